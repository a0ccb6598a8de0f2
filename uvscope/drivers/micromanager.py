"""Any camera, XY stage, focus drive or filter wheel Micro-Manager knows, via pycromanager.

The Core comes from ``pycromanager.Core()`` (ZMQ, a running Micro-Manager with its server on)
or from ``start_headless(mm_app_path, config_file, python_backend=True)`` (pymmcore in this
process). Settings live in ``RigConfig.micromanager`` and are validated by
``MicroManagerSettings``. Micro-Manager works in um; the interfaces here use mm for the stage.
Calls go through snake_case names, with a camelCase fallback for a bare pymmcore core.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
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
from uvscope.errors import ConfigError, DeviceError, DeviceNotFound


class MicroManagerSettings(BaseModel):
    """The ``[micromanager]`` table of a rig config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["zmq", "headless"] = Field(
        "zmq", description="zmq: a running Micro-Manager; headless: pymmcore in this process"
    )
    port: int = Field(4827, description="zmq: Micro-Manager's server port")
    mm_app_path: str | None = Field(None, description="headless: Micro-Manager install folder")
    config_file: str | None = Field(None, description="headless: the hardware .cfg file")
    camera: str | None = Field(None, description="camera label; default: the core's camera")
    xy_stage: str | None = Field(None, description="XY stage label; default: the core's")
    focus: str | None = Field(None, description="focus drive label; default: the core's")
    filter_wheel: str | None = Field(
        None, description="state device label of the wheel (state = slot - 1)"
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
        if self.filter_wheel and self.filter_group:
            raise ValueError("give filter_wheel (a state device) or filter_group, not both")
        return self


def settings_from(config: RigConfig) -> MicroManagerSettings:
    return parse_model(MicroManagerSettings, dict(config.micromanager), "rig micromanager")


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


CoreFactory = Callable[[MicroManagerSettings], Any]


#: the headless Micro-Manager of this process: (mm_app_path, config_file) -> its Core.
#: pycromanager's ``start_headless`` starts a core per call while ``Core()`` keeps returning
#: the first one, so it is called once per process; a reconnect reloads the hardware
#: configuration into that same core instead.
_HEADLESS: dict[tuple[str, str], Any] = {}
_HEADLESS_LOCK = threading.Lock()


def _import_pycromanager() -> Any:
    try:
        import pycromanager
    except ImportError:
        raise DeviceNotFound(
            "pycromanager is not installed: pip install 'uvscope[micromanager]'"
        ) from None
    return pycromanager


def _headless_core(pycromanager: Any, settings: MicroManagerSettings) -> Any:
    key = (str(settings.mm_app_path), str(settings.config_file))
    with _HEADLESS_LOCK:
        if key in _HEADLESS:
            core = _HEADLESS[key]
            load = getattr(core, "load_system_configuration", None) or core.loadSystemConfiguration
            load(settings.config_file)  # reopen the devices in the same core
            return core
        if _HEADLESS:
            ((app, cfg),) = _HEADLESS
            raise ConfigError(
                f"this process already runs headless Micro-Manager from {app} with {cfg}; "
                "one headless core per process: use the same mm_app_path and config_file, "
                'or mode = "zmq"'
            )
        pycromanager.start_headless(settings.mm_app_path, settings.config_file, python_backend=True)
        core = pycromanager.Core()
        _HEADLESS[key] = core
        return core


def default_core_factory(settings: MicroManagerSettings) -> Any:
    """A pycromanager Core for ``settings`` (imported only here)."""
    pycromanager = _import_pycromanager()
    try:
        if settings.mode == "headless":
            return _headless_core(pycromanager, settings)
        return pycromanager.Core(port=settings.port)
    except ConfigError:
        raise
    except Exception as err:  # ZMQ and Java errors have no common base class
        raise DeviceNotFound(
            f"cannot reach Micro-Manager ({settings.mode}): {err}. For zmq, start Micro-Manager "
            f"and enable Tools > Options > Run server on port {settings.port}"
        ) from err


class MMSession:
    """One Core shared by the devices of a rig; created on first connect."""

    def __init__(
        self, settings: MicroManagerSettings, core_factory: CoreFactory | None = None
    ) -> None:
        self.settings = settings
        self._factory = core_factory or default_core_factory
        self.core: Any = None
        self._users = 0

    def acquire(self) -> Any:
        if self.core is None:
            self.core = self._factory(self.settings)
        self._users += 1
        return self.core

    def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self.core = None

    def call(self, name: str, *args: Any) -> Any:
        if self.core is None:
            raise DeviceError("Micro-Manager device is not connected; call connect() first")
        fn = getattr(self.core, name, None) or getattr(self.core, _camel(name), None)
        if fn is None:
            raise DeviceError(f"this Micro-Manager core has no method {name}")
        try:
            return fn(*args)
        except DeviceError:
            raise
        except Exception as err:  # Micro-Manager raises Java / C++ exceptions
            raise DeviceError(f"Micro-Manager {name}{args}: {err}") from err

    def label(self, configured: str | None, getter: str, what: str) -> str:
        label = configured or self.call(getter)
        if not label:
            raise ConfigError(
                f"micromanager: no {what} is set in the Micro-Manager config "
                f"and none is named in the rig config"
            )
        return str(label)


class _MMDevice:
    kind_name = "device"

    def __init__(self, session: MMSession) -> None:
        self.session = session
        self._connected = False

    def _mm_connect(self) -> None:
        if not self._connected:
            self.session.acquire()
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
        self._mm_connect()
        self.label = self.session.label(self.session.settings.camera, "get_camera_device", "camera")
        self.session.call("set_camera_device", self.label)
        self._read_geometry()

    def _read_geometry(self) -> None:
        """Image size and pixel size as Micro-Manager has them (ROI and binning included; a
        pixel size of 0 means not calibrated there, so the rig file's value holds)."""
        core = self.session.core
        if hasattr(core, "get_image_width") or hasattr(core, "getImageWidth"):
            self.width_px = int(self.session.call("get_image_width"))
            self.height_px = int(self.session.call("get_image_height"))
        if hasattr(core, "get_pixel_size_um") or hasattr(core, "getPixelSizeUm"):
            px = float(self.session.call("get_pixel_size_um"))
            self.pixel_size_um = px if px > 0 else None

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(
            self.kind,
            f"Micro-Manager camera {self.label}",
            extra={"exposure_range_ms": self.exposure_range_ms},
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
        self._mm_connect()
        self.label = self.session.label(
            self.session.settings.xy_stage, "get_xy_stage_device", "XY stage"
        )

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(self.kind, f"Micro-Manager XY stage {self.label}")

    def _do_start_move(self, x_mm: float, y_mm: float) -> None:
        self.session.call("set_xy_position", self.label, x_mm * 1000.0, y_mm * 1000.0)

    def _do_wait(self) -> None:
        self.session.call("wait_for_device", self.label)

    def _do_get_position(self) -> tuple[float, float]:
        x = float(self.session.call("get_x_position", self.label))
        y = float(self.session.call("get_y_position", self.label))
        return x / 1000.0, y / 1000.0

    def _do_is_homed(self) -> bool | None:
        return None  # Micro-Manager's core has no "is homed" query

    def _do_home(self) -> None:
        self.session.call("home", self.label)
        self.session.call("wait_for_device", self.label)

    def _do_stop(self) -> None:
        self.session.call("stop", self.label)


class MMFocus(FocusAxis, _MMDevice):
    def __init__(self, config: RigConfig, session: MMSession) -> None:
        FocusAxis.__init__(self, config.focus.limits_um)
        _MMDevice.__init__(self, session)
        self.label = ""

    def _do_connect(self) -> None:
        self._mm_connect()
        self.label = self.session.label(
            self.session.settings.focus, "get_focus_device", "focus drive"
        )

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(self.kind, f"Micro-Manager focus {self.label}")

    def _do_start_move(self, z_um: float) -> None:
        self.session.call("set_position", self.label, float(z_um))

    def _do_wait(self) -> None:
        self.session.call("wait_for_device", self.label)

    def _do_get_position(self) -> float:
        return float(self.session.call("get_position", self.label))

    def _do_is_homed(self) -> bool | None:
        return None  # Micro-Manager's core has no "is homed" query

    def _do_home(self) -> None:
        self.session.call("home", self.label)
        self.session.call("wait_for_device", self.label)

    def _do_stop(self) -> None:
        self.session.call("stop", self.label)


class MMFilterWheel(FilterWheel, _MMDevice):
    """A state device (slot n is state n-1) or a config group with one preset per filter."""

    def __init__(self, config: RigConfig, session: MMSession) -> None:
        wheel = config.filter_wheel
        FilterWheel.__init__(
            self, {int(k): v for k, v in wheel.slots.items()}, wheel.position_count, wheel.dark_slot
        )
        _MMDevice.__init__(self, session)
        s = session.settings
        self.group = s.filter_group
        self.label = s.filter_wheel or ""
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
        self._mm_connect()
        if not self.group and not self.label:
            raise ConfigError(
                "micromanager: set filter_wheel (a state device label) or "
                "filter_group for the filter wheel"
            )

    def _do_close(self) -> None:
        self._mm_close()

    def _do_info(self) -> DeviceInfo:
        what = f"config group {self.group}" if self.group else f"state device {self.label}"
        return DeviceInfo(self.kind, f"Micro-Manager filter ({what})")

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
            self.session.call("wait_for_device", self.label)

    def _do_get_slot(self) -> int:
        if self.group:
            preset = self.session.call("get_current_config", self.group)
            for slot, name in self.presets.items():
                if name == preset:
                    return slot
            raise DeviceError(f"config group {self.group} is at {preset!r}, not a known filter")
        return int(self.session.call("get_state", self.label)) + 1
