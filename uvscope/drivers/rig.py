"""``build_rig`` makes a Rig (``uvscope.drivers.bundle``) from a RigConfig."""

from __future__ import annotations

from uvscope.config import RigConfig
from uvscope.drivers import registry
from uvscope.drivers.bundle import Rig
from uvscope.drivers.factory import build_hardware_rig

__all__ = ["Rig", "build_rig"]


def build_rig(config: RigConfig) -> Rig:
    """Devices for ``config``; a rig on one backend with a whole-rig builder (the simulator:
    one world, one clock) is built by it, any other from each device's backend."""
    backends = {
        config.camera.backend,
        config.filter_wheel.backend,
        config.stage.backend,
        config.focus.backend,
    }
    if len(backends) == 1:
        whole = registry.rig_builder(next(iter(backends)))
        if whole is not None:
            return whole(config)
    # real, emulated or mixed rigs: each device from its own backend's factory
    return build_hardware_rig(config)
