"""Backends register how their devices are built; ``build_rig`` asks here.

The drivers room never imports a backend that lives above it (the simulator): a backend
module registers its builders when it is imported, and the registry imports the module that
provides a backend the first time that backend is asked for (the way a plugin's entry point
is loaded). So ``drivers/rig.py`` and ``sim/devices.py`` no longer import each other.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvscope.clock import Clock
from uvscope.config import RigConfig
from uvscope.drivers.bundle import Rig
from uvscope.errors import ConfigError

#: backend -> the module that registers it (imported on first use)
PROVIDERS: dict[str, str] = {"sim": "uvscope.sim.devices"}


@dataclass
class BuildContext:
    """What a device builder may use: the rig's config and clock, and the devices built so
    far (a simulated camera renders wherever the stage, focus and wheel are)."""

    config: RigConfig
    clock: Clock
    renderer: Any = None
    stage: Any = None
    focus: Any = None
    wheel: Any = None


DeviceBuilder = Callable[[BuildContext], Any]
RigBuilder = Callable[..., Rig]

_devices: dict[tuple[str, str], DeviceBuilder] = {}
_rigs: dict[str, RigBuilder] = {}


def register_device(kind: str, backend: str, builder: DeviceBuilder) -> None:
    """``kind`` is "camera", "filter_wheel", "xy_stage" or "focus"."""
    _devices[(kind, backend)] = builder


def register_rig(backend: str, builder: RigBuilder) -> None:
    """A builder for a rig whose every device uses ``backend`` (one world, one clock)."""
    _rigs[backend] = builder


def _load(backend: str) -> None:
    module = PROVIDERS.get(backend)
    if module is not None:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(
                f"backend {backend!r} is not available in this build ({err})"
            ) from None


def device_builder(kind: str, backend: str) -> DeviceBuilder:
    if (kind, backend) not in _devices:
        _load(backend)
    try:
        return _devices[(kind, backend)]
    except KeyError:
        raise ConfigError(f"no {kind.replace('_', ' ')} for backend {backend!r}") from None


def rig_builder(backend: str) -> RigBuilder | None:
    """The whole-rig builder of ``backend``, or None when it has none."""
    if backend not in _rigs:
        _load(backend)
    return _rigs.get(backend)
