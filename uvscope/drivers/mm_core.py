"""The Micro-Manager core a rig's devices share: settings, where the core comes from, calls.

``[micromanager] mode`` picks the core: ``zmq`` (pycromanager's ``Core()`` of a running
Micro-Manager), ``headless`` (pycromanager's ``start_headless(..., python_backend=True)``,
pymmcore in this process) or ``pymmcore-plus`` (the process's ``CMMCorePlus.instance()``).
``MMSession`` calls the core by snake_case name with a fallback to its camelCase one, turns
the core's exceptions into ``DeviceError``, checks labels, groups and presets against the
loaded configuration and waits for a device by polling ``deviceBusy``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from uvscope.config import RigConfig, parse_model
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
    return os.path.realpath(path)


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


def plain_signals_unless_qtpy() -> None:
    """Make pymmcore-plus use psygnal for its events when qtpy is missing.

    pymmcore-plus picks Qt signals whenever a Qt application runs (uvscope's GUI) and then
    needs qtpy, which uvscope does not use: without qtpy that core could not be made at all.
    A backend the user chose (``PYMM_SIGNALS_BACKEND``) is kept.
    """
    if importlib.util.find_spec("qtpy") is None:
        os.environ.setdefault("PYMM_SIGNALS_BACKEND", "psygnal")


def _pymmcore_plus_core(settings: MicroManagerSettings) -> Any:
    """The process's shared CMMCorePlus; its configuration is loaded only when the rig
    names another one, so napari-micromanager's devices stay as they are."""
    plain_signals_unless_qtpy()
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
    elif all(label == "Core" for label in core.getLoadedDevices()):
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
