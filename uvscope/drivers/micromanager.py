"""Any camera, XY stage, focus drive or filter wheel Micro-Manager knows, on its own core.

Three ways to a core (``[micromanager] mode``): ``zmq``, pycromanager's ``Core()`` of a
running Micro-Manager with its server on; ``headless``, pycromanager's
``start_headless(mm_app_path, config_file, python_backend=True)`` (pymmcore in this process);
``pymmcore-plus``, the process's ``pymmcore_plus.CMMCorePlus.instance()`` that
napari-micromanager and pymmcore-widgets drive, so uvscope runs beside them on one
configuration. Any other core object goes in through ``build_hardware_rig(...,
mm_core_factory=...)``. Calls use snake_case names (pycromanager) and fall back to the
core's own camelCase ones (pymmcore, pymmcore-plus).

At connect every device label, config group and preset is checked against the loaded
configuration (the error lists what exists), the camera's exposure limits, image size,
pixel size and pixel type are read from the core, and a state-device wheel's position count
comes from the core. Micro-Manager works in um; the stage interface here is in mm. Moves are
waited for by polling ``deviceBusy`` up to ``move_timeout_s``: the core's own
``waitForDevice`` gives up after its ``TimeoutMs`` (5 s), shorter than a long stage move.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from uvscope.config import RigConfig, parse_model
from uvscope.drivers.base import (
    Camera,
    DeviceInfo,
    FilterWheel,
    FocusAxis,
    Frame,
    FrameMeta,
    XYStage,
)
from uvscope.errors import ConfigError, DeviceError, DeviceNotFound, DeviceTimeout

#: ``mm_app_path`` shortcut: the demo device adapters of the ``mm-test-adapters`` package
TEST_ADAPTERS = "mm-test-adapters"


class MicroManagerSettings(BaseModel):
    """The ``[micromanager]`` table of a rig config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["zmq", "headless", "pymmcore-plus"] = Field(
        "zmq",
        description="zmq: a running Micro-Manager; headless: pymmcore in this process "
        "(pycromanager); pymmcore-plus: this process's CMMCorePlus.instance()",
    )
    port: int = Field(4827, description="zmq: Micro-Manager's server port")
    mm_app_path: str | None = Field(
        None,
        description="headless/pymmcore-plus: the folder of the device adapters (a "
        f'Micro-Manager install); "{TEST_ADAPTERS}": the demo adapters of that package',
    )
    config_file: str | None = Field(
        None,
        description="headless/pymmcore-plus: the hardware .cfg file (relative: to mm_app_path); "
        "pymmcore-plus without it: the configuration the core already has",
    )
    buffer_size_mb: int = Field(
        256, ge=16, description="headless: MMCore's circular buffer (uvscope snaps single frames)"
    )
    move_timeout_s: float = Field(
        60.0, gt=0, description="longest wait for a stage, focus or filter move"
    )
    presets: dict[str, str] = Field(
        default_factory=dict,
        description="config group -> preset set at connect, before the camera's image and "
        'pixel size are read (e.g. { Objective = "40X", Camera = "LowRes" })',
    )
    camera: str | None = Field(None, description="camera label; default: the core's camera")
    xy_stage: str | None = Field(None, description="XY stage label; default: the core's")
    focus: str | None = Field(None, description="focus drive label; default: the core's")
    filter_wheel: str | None = Field(
        None, description="state device label of the wheel (slot n = state n-1)"
    )
    filter_group: str | None = Field(
        None, description="config group that selects the filter (instead of a state device)"
    )
    filter_presets: dict[str, str] = Field(
        default_factory=dict, description="filter_group: wavelength nm -> preset name"
    )
    dark_preset: str | None = Field(None, description="filter_group: preset that blocks light")

    @model_validator(mode="after")
    def _check(self) -> MicroManagerSettings:
        if self.mode == "headless" and not (self.mm_app_path and self.config_file):
            raise ValueError("headless mode needs mm_app_path and config_file")
        if self.mode == "zmq" and (self.mm_app_path or self.config_file):
            raise ValueError(
                "zmq mode uses the configuration Micro-Manager has loaded: remove mm_app_path "
                'and config_file, or set mode = "headless"'
            )
        if self.filter_wheel and self.filter_group:
            raise ValueError("give filter_wheel (a state device) or filter_group, not both")
        return self


def settings_from(config: RigConfig) -> MicroManagerSettings:
    return parse_model(MicroManagerSettings, dict(config.micromanager), "rig micromanager")


CoreFactory = Callable[[MicroManagerSettings], Any]


#: the headless Micro-Manager of this process: (mm_app_path, config_file) -> its Core.
#: pycromanager's ``start_headless`` starts a core per call while ``Core()`` keeps returning
#: the first one, so it is called once per process; a reconnect reloads the hardware
#: configuration into that same core instead.
_HEADLESS: dict[tuple[str, str], Any] = {}
_HEADLESS_LOCK = threading.Lock()


def adapter_path(mm_app_path: str) -> str:
    """The adapter folder ``mm_app_path`` names (``"mm-test-adapters"``: that package's)."""
    if mm_app_path != TEST_ADAPTERS:
        return os.path.expanduser(mm_app_path)
    try:
        import mm_test_adapters
    except ImportError:
        raise DeviceNotFound(
            f'mm_app_path = "{TEST_ADAPTERS}" needs that package: pip install mm-test-adapters '
            "(its device-interface version must match pymmcore's)"
        ) from None
    return str(mm_test_adapters.device_adapter_path())


def config_path(app: str | None, config_file: str) -> str:
    """``config_file``, a relative one taken in the adapter folder (pycromanager's rule)."""
    path = os.path.expanduser(config_file)
    if app and not os.path.isabs(path):
        path = os.path.join(app, path)
    if not os.path.isfile(path):
        raise ConfigError(f"micromanager.config_file: {path} does not exist")
    return os.path.abspath(path)


def _import_pycromanager() -> Any:
    try:
        import pycromanager
    except ImportError:
        raise DeviceNotFound(
            "pycromanager is not installed: pip install 'uvscope[micromanager]'"
        ) from None
    return pycromanager


def _headless_core(pycromanager: Any, settings: MicroManagerSettings) -> Any:
    app = adapter_path(str(settings.mm_app_path))
    cfg = config_path(app, str(settings.config_file))
    key = (app, cfg)
    with _HEADLESS_LOCK:
        if key in _HEADLESS:
            core = _HEADLESS[key]
            load = getattr(core, "load_system_configuration", None) or core.loadSystemConfiguration
            load(cfg)  # reopen the devices in the same core
            return core
        if _HEADLESS:
            ((old_app, old_cfg),) = _HEADLESS
            raise ConfigError(
                f"this process already runs headless Micro-Manager from {old_app} with "
                f"{old_cfg}; one headless core per process: use the same mm_app_path and "
                'config_file, or mode = "zmq"'
            )
        pycromanager.start_headless(
            app, cfg, python_backend=True, buffer_size_mb=settings.buffer_size_mb
        )
        core = pycromanager.Core()
        _HEADLESS[key] = core
        return core


def _pymmcore_plus_core(settings: MicroManagerSettings) -> Any:
    """The process's shared CMMCorePlus; its configuration is loaded only when the rig
    names another one, so napari-micromanager's devices stay as they are."""
    try:
        from pymmcore_plus import CMMCorePlus
    except ImportError:
        raise DeviceNotFound(
            'mode = "pymmcore-plus" needs pymmcore-plus: pip install pymmcore-plus'
        ) from None
    core = CMMCorePlus.instance()
    if settings.config_file:
        app = adapter_path(settings.mm_app_path) if settings.mm_app_path else None
        cfg = config_path(app, settings.config_file)
        if core.systemConfigurationFile() != cfg:
            if app:
                core.setDeviceAdapterSearchPaths([app])
            core.loadSystemConfiguration(cfg)
    elif [d for d in core.getLoadedDevices() if d != "Core"] == []:
        raise ConfigError(
            "micromanager: the pymmcore-plus core has no devices loaded; set config_file "
            "(and mm_app_path) in [micromanager], or load a configuration first"
        )
    return core


def default_core_factory(settings: MicroManagerSettings) -> Any:
    """The core ``settings`` name (its package imported only here)."""
    try:
        if settings.mode == "pymmcore-plus":
            return _pymmcore_plus_core(settings)
        pycromanager = _import_pycromanager()
        if settings.mode == "headless":
            return _headless_core(pycromanager, settings)
        if _HEADLESS:
            raise ConfigError(
                "this process runs a headless Micro-Manager, and pycromanager hands its core to "
                'every Core(): use mode = "headless" with the same configuration'
            )
        return pycromanager.Core(port=settings.port)
    except (ConfigError, DeviceNotFound):
        raise
    except Exception as err:  # ZMQ, Java and MMCore errors have no common base class
        raise DeviceNotFound(
            f"cannot reach Micro-Manager ({settings.mode}): {err}. For zmq, start Micro-Manager "
            f"and enable Tools > Options > Run server on port {settings.port}; headless and "
            "pymmcore-plus: check mm_app_path, config_file and that the adapters' device "
            "interface matches pymmcore's"
        ) from err


def strings(values: Any) -> list[str]:
    """A list of str from a core's string vector (pymmcore tuple or a Java StrVector)."""
    if hasattr(values, "size") and hasattr(values, "get"):
        return [str(values.get(i)) for i in range(int(values.size()))]
    return [str(v) for v in values]


#: MMCore's DeviceType codes of the kinds uvscope drives
DEVICE_TYPES = {"camera": 2, "focus drive": 5, "XY stage": 6, "state device": 4}


def _type_code(value: Any) -> int | None:
    """A DeviceType as its code: pymmcore gives an int, pymmcore-plus an IntEnum, MMCoreJ
    over ZMQ a SWIG enum object (``swigValue``); None when it cannot be read."""
    swig = getattr(value, "swig_value", None) or getattr(value, "swigValue", None)
    try:
        return int(swig() if swig is not None else value)
    except (TypeError, ValueError):
        return None


class MMSession:
    """One Core shared by the devices of a rig; created on first connect."""

    def __init__(
        self, settings: MicroManagerSettings, core_factory: CoreFactory | None = None
    ) -> None:
        self.settings = settings
        self._factory = core_factory or default_core_factory
        self.core: Any = None
        self._users = 0
        self._names: dict[str, str] = {}

    def acquire(self) -> Any:
        if self.core is None:
            self.core = self._factory(self.settings)
            self._names = {a.lower(): a for a in dir(self.core) if not a.startswith("_")}
            try:
                self._set_presets()
            except Exception:
                self.core = None
                raise
        self._users += 1
        return self.core

    def _set_presets(self) -> None:
        for group, preset in self.settings.presets.items():
            self.check_presets(group, [preset], "presets")
            self.call("set_config", group, preset)
            self.call("wait_for_config", group, preset)

    def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self.core = None

    def _method(self, name: str) -> Any:
        fn = getattr(self.core, name, None)
        if fn is None:  # camelCase core: set_xy_position -> setXYPosition
            attr = self._names.get(name.replace("_", "").lower())
            fn = getattr(self.core, attr, None) if attr else None
        if fn is None:
            raise DeviceError(f"this Micro-Manager core has no method {name}")
        return fn

    def call(self, name: str, *args: Any) -> Any:
        if self.core is None:
            raise DeviceError("Micro-Manager device is not connected; call connect() first")
        fn = self._method(name)
        try:
            return fn(*args)
        except DeviceError:
            raise
        except Exception as err:  # Micro-Manager raises Java / C++ exceptions
            raise DeviceError(f"Micro-Manager {name}{args}: {err}") from err

    def devices_of(self, what: str) -> list[str]:
        """Labels of the loaded devices of kind ``what`` (a DEVICE_TYPES key)."""
        labels = [d for d in strings(self.call("get_loaded_devices")) if d != "Core"]
        code = DEVICE_TYPES[what]
        return [d for d in labels if _type_code(self.call("get_device_type", d)) in (code, None)]

    def label(self, field: str, getter: str | None, what: str) -> str:
        """The device label for ``micromanager.<field>`` (else the core's ``getter`` role),
        checked against the loaded configuration."""
        label = getattr(self.settings, field) or (self.call(getter) if getter else "")
        if not label:
            raise ConfigError(
                f"micromanager: no {what} is set in the Micro-Manager config "
                f"and micromanager.{field} names none"
            )
        have = self.devices_of(what)
        if str(label) not in have:
            raise ConfigError(
                f"micromanager.{field} = {label!r} is not a {what} of the loaded Micro-Manager "
                f"configuration; {what}s there: {', '.join(have) or 'none'}"
            )
        return str(label)

    def check_presets(self, group: str, presets: Iterable[str], field: str) -> None:
        """The config group and its presets exist, else an error listing those that do."""
        groups = strings(self.call("get_available_config_groups"))
        if group not in groups:
            raise ConfigError(
                f"micromanager.{field}: {group!r} is not a config group of the loaded "
                f"Micro-Manager configuration; groups there: {', '.join(groups) or 'none'}"
            )
        have = strings(self.call("get_available_configs", group))
        missing = [p for p in presets if p not in have]
        if missing:
            raise ConfigError(
                f"micromanager: config group {group!r} has no preset {', '.join(missing)}; "
                f"its presets: {', '.join(have) or 'none'}"
            )

    def wait_idle(self, label: str, what: str) -> None:
        """Poll ``deviceBusy`` until ``label`` is still, up to ``move_timeout_s``."""
        timeout_s = self.settings.move_timeout_s
        deadline = time.monotonic() + timeout_s
        while self.call("device_busy", label):
            if time.monotonic() > deadline:
                raise DeviceTimeout(
                    f"Micro-Manager {what} {label} is still moving after {timeout_s:g} s "
                    "(micromanager.move_timeout_s)"
                )
            time.sleep(0.005)


class _MMDevice:
    kind_name = "device"

    def __init__(self, session: MMSession) -> None:
        self.session = session
        self._connected = False

    def _mm_connect(self, connect: Callable[[], None]) -> None:
        """Acquire the core and run ``connect``; a failed check lets the core go again."""
        if self._connected:
            return
        self.session.acquire()
        try:
            connect()
        except Exception:
            self.session.release()
            raise
        self._connected = True

    def _mm_close(self) -> None:
        if self._connected:
            self._connected = False
            self.session.release()


class MMCamera(Camera, _MMDevice):
    def __init__(self, config: RigConfig, session: MMSession) -> None:
        cam = config.camera
        Camera.__init__(
            self,
            cam.width_px,
            cam.height_px,
            cam.bit_depth,
            (cam.exposure_min_ms, cam.exposure_max_ms),
        )
        _MMDevice.__init__(self, session)
        self.config = cam
        self.label = ""
        self._index = 0
        self._t0: float | None = None

    def _do_connect(self) -> None:
        self._mm_connect(self._open)

    def _open(self) -> None:
        self.label = self.session.label("camera", "get_camera_device", "camera")
        self.session.call("set_camera_device", self.label)
        self._read_pixels()
        self._read_exposure_limits()

    def _read_pixels(self) -> None:
        """Image size, pixel size and pixel type as Micro-Manager has them (ROI and binning
        included; a pixel size of 0 means not calibrated there, so the rig file's holds)."""
        call = self.session.call
        components, nbytes = int(call("get_number_of_components")), int(call("get_bytes_per_pixel"))
        if components != 1 or nbytes > 2:
            raise ConfigError(
                f"Micro-Manager camera {self.label} gives {8 * nbytes}-bit "
                f"{'colour' if components > 1 else 'monochrome'} images; uvscope takes 8- to "
                "16-bit monochrome: set its PixelType (or BitDepth) in Micro-Manager"
            )
        self.width_px = int(call("get_image_width"))
        self.height_px = int(call("get_image_height"))
        self.bit_depth = int(call("get_image_bit_depth"))
        px = float(call("get_pixel_size_um"))
        self.pixel_size_um = px if px > 0 else None

    def _read_exposure_limits(self) -> None:
        """The rig file's exposure range narrowed to the camera's own (many cameras, the
        demo one too, ignore an exposure they cannot do instead of refusing it)."""
        lo, hi = self.config.exposure_min_ms, self.config.exposure_max_ms
        call = self.session.call
        if call("has_property_limits", self.label, "Exposure"):
            core_lo = float(call("get_property_lower_limit", self.label, "Exposure"))
            core_hi = float(call("get_property_upper_limit", self.label, "Exposure"))
            lo, hi = max(lo, core_lo), min(hi, core_hi)
            if lo >= hi:
                raise ConfigError(
                    f"camera.exposure_min_ms/exposure_max_ms do not overlap Micro-Manager "
                    f"camera {self.label}'s {core_lo:g}-{core_hi:g} ms"
                )
        self.exposure_range_ms = (lo, hi)
        self._exposure_ms = min(max(self._exposure_ms, lo), hi)

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(
            self.kind,
            f"Micro-Manager camera {self.label}",
            extra={
                "exposure_range_ms": self.exposure_range_ms,
                "pixel_size_um": self.pixel_size_um,
            },
        )

    def _do_set_exposure_ms(self, exposure_ms: float) -> None:
        self.session.call("set_exposure", float(exposure_ms))

    def _do_trigger(self) -> None:
        self._t0 = time.monotonic()
        self.session.call("snap_image")  # returns after the exposure

    def _do_read(self, timeout_s: float) -> Frame:
        if self._t0 is None:
            raise DeviceError("Micro-Manager camera: read without a trigger")
        t0, self._t0 = self._t0, None
        image = np.asarray(self.session.call("get_image"))
        if image.ndim == 1:  # pycromanager over ZMQ hands back a flat buffer
            h = int(self.session.call("get_image_height"))
            w = int(self.session.call("get_image_width"))
            image = image.reshape(h, w)
        if self.config.flip_x:
            image = image[:, ::-1]
        if self.config.flip_y:
            image = image[::-1, :]
        self._index += 1
        return Frame(
            np.ascontiguousarray(image, dtype=np.uint16),
            FrameMeta(self._exposure_ms, t0, self._index, {"camera": self.label}),
        )


class MMXYStage(XYStage, _MMDevice):
    """Micro-Manager XY stage; positions converted between mm (here) and um (Micro-Manager)."""

    def __init__(self, config: RigConfig, session: MMSession) -> None:
        XYStage.__init__(self, config.stage.x_limits_mm, config.stage.y_limits_mm)
        _MMDevice.__init__(self, session)
        self.label = ""

    def _do_connect(self) -> None:
        self._mm_connect(self._open)

    def _open(self) -> None:
        self.label = self.session.label("xy_stage", "get_xy_stage_device", "XY stage")

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(self.kind, f"Micro-Manager XY stage {self.label}")

    def _do_start_move(self, x_mm: float, y_mm: float) -> None:
        self.session.call("set_xy_position", self.label, x_mm * 1000.0, y_mm * 1000.0)

    def _do_wait(self) -> None:
        self.session.wait_idle(self.label, "XY stage")

    def _do_get_position(self) -> tuple[float, float]:
        x = float(self.session.call("get_x_position", self.label))
        y = float(self.session.call("get_y_position", self.label))
        return x / 1000.0, y / 1000.0

    def _do_is_homed(self) -> bool | None:
        return None  # Micro-Manager's core has no "is homed" query

    def _do_home(self) -> None:
        self.session.call("home", self.label)
        self.session.wait_idle(self.label, "XY stage")

    def _do_stop(self) -> None:
        self.session.call("stop", self.label)


class MMFocus(FocusAxis, _MMDevice):
    def __init__(self, config: RigConfig, session: MMSession) -> None:
        FocusAxis.__init__(self, config.focus.limits_um)
        _MMDevice.__init__(self, session)
        self.label = ""

    def _do_connect(self) -> None:
        self._mm_connect(self._open)

    def _open(self) -> None:
        self.label = self.session.label("focus", "get_focus_device", "focus drive")

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(self.kind, f"Micro-Manager focus {self.label}")

    def _do_start_move(self, z_um: float) -> None:
        self.session.call("set_position", self.label, float(z_um))

    def _do_wait(self) -> None:
        self.session.wait_idle(self.label, "focus drive")

    def _do_get_position(self) -> float:
        return float(self.session.call("get_position", self.label))

    def _do_is_homed(self) -> bool | None:
        return None  # Micro-Manager's core has no "is homed" query

    def _do_home(self) -> None:
        self.session.call("home", self.label)
        self.session.wait_idle(self.label, "focus drive")

    def _do_stop(self) -> None:
        self.session.call("stop", self.label)


class MMFilterWheel(FilterWheel, _MMDevice):
    """A state device (slot n is state n-1; its position count is the core's) or a config
    group with one preset per filter."""

    def __init__(self, config: RigConfig, session: MMSession) -> None:
        wheel = config.filter_wheel
        slots = {int(k): v for k, v in wheel.slots.items()}
        used = [*slots.values(), *([wheel.dark_slot] if wheel.dark_slot is not None else [])]
        FilterWheel.__init__(self, slots, wheel.position_count or max(used), wheel.dark_slot)
        _MMDevice.__init__(self, session)
        self.config = wheel
        s = session.settings
        self.group = s.filter_group
        self.label = s.filter_wheel or ""
        self.state_labels: list[str] = []
        self.presets: dict[int, str] = {}
        if self.group:
            missing = [nm for nm in wheel.slots if nm not in s.filter_presets]
            if missing:
                raise ConfigError(f"micromanager.filter_presets has no preset for {missing} nm")
            if wheel.dark_slot is not None and not s.dark_preset:
                raise ConfigError(
                    "micromanager.dark_preset is needed for dark frames "
                    "(or set filter_wheel.dark_slot to none)"
                )
            # presets by slot, so the FilterWheel interface (slots) works unchanged
            self.presets = {self.slots[int(nm)]: s.filter_presets[nm] for nm in wheel.slots}
            if wheel.dark_slot is not None and s.dark_preset:
                self.presets[wheel.dark_slot] = s.dark_preset

    def _do_connect(self) -> None:
        self._mm_connect(self._open)

    def _open(self) -> None:
        if self.group:
            self.session.check_presets(self.group, self.presets.values(), "filter_group")
            return
        if not self.session.settings.filter_wheel:
            raise ConfigError(
                "micromanager: set filter_wheel (a state device label) or "
                "filter_group for the filter wheel"
            )
        self.label = self.session.label("filter_wheel", None, "state device")
        count = int(self.session.call("get_number_of_states", self.label))
        self.state_labels = strings(self.session.call("get_state_labels", self.label))
        self._check_count(count)
        self.position_count = count

    def _check_count(self, count: int) -> None:
        """The rig file's positions against the state device's ``count`` states."""
        given = self.config.position_count
        if given is not None and given != count:
            raise ConfigError(
                f"filter_wheel.position_count is {given} but Micro-Manager's {self.label} has "
                f"{count} states; fix it or leave it out (the count is read from the core)"
            )
        named = {f"{nm} nm": slot for nm, slot in self.slots.items()}
        if self.dark_slot is not None:
            named["dark_slot"] = self.dark_slot
        outside = [f"{what} at slot {slot}" for what, slot in named.items() if slot > count]
        if outside:
            listing = ", ".join(f"{i + 1}={name}" for i, name in enumerate(self.state_labels))
            raise ConfigError(
                f"filter_wheel: {', '.join(outside)} is beyond Micro-Manager's {self.label} "
                f"with {count} states (slot n = state n-1: {listing})"
            )

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        if self.group:
            return DeviceInfo(
                self.kind,
                f"Micro-Manager filter (config group {self.group})",
                extra={"presets": {str(slot): name for slot, name in self.presets.items()}},
            )
        filters = {
            nm: self.state_labels[slot - 1]
            for nm, slot in self.slots.items()
            if slot <= len(self.state_labels)
        }
        return DeviceInfo(
            self.kind,
            f"Micro-Manager filter (state device {self.label}, {self.position_count} positions)",
            extra={"filters": filters},
        )

    def _do_start_move(self, slot: int) -> None:
        if self.group:
            if slot not in self.presets:
                raise DeviceError(f"no preset of group {self.group} for slot {slot}")
            self.session.call("set_config", self.group, self.presets[slot])
        else:
            self.session.call("set_state", self.label, slot - 1)

    def _do_wait(self) -> None:
        if self.group:
            self.session.call(
                "wait_for_config", self.group, self.session.call("get_current_config", self.group)
            )
        else:
            self.session.wait_idle(self.label, "filter wheel")

    def _do_get_slot(self) -> int:
        if self.group:
            preset = self.session.call("get_current_config", self.group)
            for slot, name in self.presets.items():
                if name == preset:
                    return slot
            raise DeviceError(f"config group {self.group} is at {preset!r}, not a known filter")
        return int(self.session.call("get_state", self.label)) + 1
