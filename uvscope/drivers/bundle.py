"""A Rig bundles the devices one scan needs (built by ``uvscope.drivers.rig.build_rig``).

It lives apart from ``build_rig`` so the backend registry and the hardware factory can name
the type they return without importing the module that imports them.
"""

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
