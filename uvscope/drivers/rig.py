"""A Rig bundles the devices one scan needs; ``build_rig`` makes one from a RigConfig."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uvscope.clock import Clock, RealClock
from uvscope.config import RigConfig
from uvscope.drivers.base import Camera, Device, FilterWheel, FocusAxis, XYStage
from uvscope.errors import DeviceError


@dataclass
class Rig:
    config: RigConfig
    camera: Camera
    filter_wheel: FilterWheel
    stage: XYStage
    focus: FocusAxis
    clock: Clock = field(default_factory=RealClock)
    #: the simulated world when any device is simulated (ground truth, blank region)
    world: Any = None

    @property
    def devices(self) -> dict[str, Device]:
        return {
            "camera": self.camera,
            "filter_wheel": self.filter_wheel,
            "stage": self.stage,
            "focus": self.focus,
        }

    @property
    def pixel_size_um(self) -> float:
        """Pixel size on the sample of the camera's images as it now runs (binning included),
        else the rig file's; with ``camera.width_px``/``height_px`` it sets the tile size."""
        return self.camera.pixel_size_um or self.config.camera.pixel_size_um

    def connect(self) -> None:
        opened: list[Device] = []
        try:
            for dev in self.devices.values():
                dev.connect()
                opened.append(dev)
        except Exception:
            for dev in reversed(opened):
                dev.close()
            raise

    def reopen(self) -> None:
        """Close and reconnect every device once, the recovery step after a device error.

        A device that will not come back is left for the retried operation to report.
        """
        for dev in self.devices.values():
            try:
                dev.close()
                dev.connect()
            except DeviceError:
                pass

    def close(self) -> None:
        errors: list[BaseException] = []
        for dev in self.devices.values():
            try:
                dev.close()
            except Exception as err:  # close every device, then report
                errors.append(err)
        if errors:
            raise errors[0]

    def __enter__(self) -> Rig:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_rig(config: RigConfig) -> Rig:
    """Devices for ``config``; a rig on one backend with a whole-rig builder (the simulator:
    one world, one clock) is built by it, any other from each device's backend."""
    from uvscope.drivers import registry

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
    from uvscope.drivers.factory import build_hardware_rig

    return build_hardware_rig(config)
