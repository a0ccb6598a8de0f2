"""Small typed device interfaces every backend (sim, serial, pco, Micro-Manager) implements.

Public methods validate their arguments (units, soft limits) and then call the backend's
``_do_*`` method, so no backend can be asked for a position outside its soft limits.
Moves are split into *start* and *wait* so the scan engine can overlap a stage move with a
camera readout or a filter-wheel move.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uvscope.errors import ConfigError, DeviceError, LimitError


@dataclass(frozen=True)
class DeviceInfo:
    """What ``uvscope devices check`` prints for a device."""

    kind: str
    model: str
    serial: str = ""
    firmware: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameMeta:
    exposure_ms: float
    timestamp_s: float
    frame_index: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Frame:
    """One camera image (uint16, rows x columns) with its metadata."""

    image: np.ndarray
    meta: FrameMeta


class Device(ABC):
    """Common lifecycle: connect, identify, close; usable as a context manager."""

    kind: str = "device"

    def connect(self) -> None:
        """Open the connection (idempotent)."""
        self._do_connect()

    def close(self) -> None:
        """Release the device; never raises for an already closed device."""
        self._do_close()

    def info(self) -> DeviceInfo:
        return self._do_info()

    def _do_connect(self) -> None:  # noqa: B027 - optional hook
        pass

    def _do_close(self) -> None:  # noqa: B027 - optional hook
        pass

    @abstractmethod
    def _do_info(self) -> DeviceInfo: ...

    def __enter__(self) -> Device:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_finite(name: str, *values: float) -> None:
    for v in values:
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise LimitError(f"{name}: {v!r} is not a finite number; nothing was moved")


class Camera(Device):
    """Snaps frames at an exposure; ``trigger`` + ``read`` lets readout overlap a move.

    ``max_pending_frames`` is how many triggered frames the camera holds before ``read``:
    1 means read each frame before the next trigger; 2 (an interline CCD with a frame
    buffer) lets the next exposure start while the last frame is read out.
    """

    kind = "camera"
    max_pending_frames: int = 1

    def __init__(
        self, width_px: int, height_px: int, bit_depth: int, exposure_range_ms: tuple[float, float]
    ) -> None:
        self.width_px = width_px
        self.height_px = height_px
        self.bit_depth = bit_depth
        #: pixel size on the sample of the images as now acquired (binning included); None:
        #: the backend does not know it, the rig file's value holds
        self.pixel_size_um: float | None = None
        self.exposure_range_ms = exposure_range_ms
        self._exposure_ms = max(exposure_range_ms[0], min(50.0, exposure_range_ms[1]))

    @property
    def exposure_ms(self) -> float:
        return self._exposure_ms

    def set_exposure_ms(self, exposure_ms: float) -> None:
        lo, hi = self.exposure_range_ms
        _check_finite("exposure_ms", exposure_ms)
        if not lo <= exposure_ms <= hi:
            raise ConfigError(f"exposure {exposure_ms} ms is outside the camera's {lo}-{hi} ms")
        self._do_set_exposure_ms(exposure_ms)
        self._exposure_ms = exposure_ms

    def trigger(self) -> None:
        """Start an exposure and return once light collection is over (the sample may move)."""
        self._do_trigger()

    def read(self, timeout_s: float = 10.0) -> Frame:
        """The frame of the last ``trigger``, once read out."""
        return self._do_read(timeout_s)

    def snap(self) -> Frame:
        self.trigger()
        return self.read()

    @abstractmethod
    def _do_set_exposure_ms(self, exposure_ms: float) -> None: ...

    @abstractmethod
    def _do_trigger(self) -> None: ...

    @abstractmethod
    def _do_read(self, timeout_s: float) -> Frame: ...


class FilterWheel(Device):
    """Moves filters into the beam by 1-based position; knows its wavelength -> slot map."""

    kind = "filter_wheel"

    def __init__(self, slots: dict[int, int], position_count: int, dark_slot: int | None) -> None:
        self.slots = dict(slots)
        self.position_count = position_count
        self.dark_slot = dark_slot

    @property
    def wavelengths_nm(self) -> tuple[int, ...]:
        return tuple(sorted(self.slots))

    def slot_for(self, wavelength_nm: int) -> int:
        if wavelength_nm not in self.slots:
            raise ConfigError(f"no filter for {wavelength_nm} nm in the wheel; slots: {self.slots}")
        return self.slots[wavelength_nm]

    def start_move_to_slot(self, slot: int) -> None:
        if not isinstance(slot, int) or not 1 <= slot <= self.position_count:
            raise DeviceError(f"filter slot {slot!r} is outside 1..{self.position_count}")
        self._do_start_move(slot)

    def wait(self) -> None:
        """Block until the wheel is in position."""
        self._do_wait()

    def move_to_slot(self, slot: int) -> None:
        self.start_move_to_slot(slot)
        self.wait()

    def move_to_wavelength(self, wavelength_nm: int) -> None:
        self.move_to_slot(self.slot_for(wavelength_nm))

    def move_to_dark(self) -> None:
        if self.dark_slot is None:
            raise ConfigError("filter_wheel.dark_slot is not set; dark frames need a blocked slot")
        self.move_to_slot(self.dark_slot)

    @property
    def slot(self) -> int:
        return self._do_get_slot()

    @property
    def wavelength_nm(self) -> int | None:
        s = self.slot
        return next((nm for nm, p in self.slots.items() if p == s), None)

    @abstractmethod
    def _do_start_move(self, slot: int) -> None: ...

    @abstractmethod
    def _do_wait(self) -> None: ...

    @abstractmethod
    def _do_get_slot(self) -> int: ...


class XYStage(Device):
    """An XY stage in mm with soft limits that no move may cross.

    ``requires_homing``: the backend refuses moves until the controller has homed (a real
    APT stage); ``is_homed`` is then the controller's word. Backends that need no homing
    (the simulator) or cannot tell (Micro-Manager) report None or True.
    """

    kind = "xy_stage"
    requires_homing: bool = False

    def __init__(self, x_limits_mm: tuple[float, float], y_limits_mm: tuple[float, float]) -> None:
        self.x_limits_mm = x_limits_mm
        self.y_limits_mm = y_limits_mm

    def check_limits(self, x_mm: float, y_mm: float) -> None:
        """Raise LimitError naming the limit if (x, y) is outside the soft limits."""
        _check_finite("stage position", x_mm, y_mm)
        for axis, v, (lo, hi) in (("x", x_mm, self.x_limits_mm), ("y", y_mm, self.y_limits_mm)):
            if not lo <= v <= hi:
                raise LimitError(
                    f"stage {axis} = {v:.4f} mm is outside the soft limits "
                    f"stage.{axis}_limits_mm = [{lo}, {hi}]; nothing was moved"
                )

    def start_move_to_mm(self, x_mm: float, y_mm: float) -> None:
        self.check_limits(x_mm, y_mm)
        self._do_start_move(float(x_mm), float(y_mm))

    def wait(self) -> None:
        """Block until the move is complete and the axes have settled."""
        self._do_wait()

    def move_to_mm(self, x_mm: float, y_mm: float) -> None:
        self.start_move_to_mm(x_mm, y_mm)
        self.wait()

    def move_by_mm(self, dx_mm: float, dy_mm: float) -> None:
        x, y = self.position_mm()
        self.move_to_mm(x + dx_mm, y + dy_mm)

    def position_mm(self) -> tuple[float, float]:
        return self._do_get_position()

    def home(self, axes: tuple[str, ...] = ("x", "y")) -> None:
        """Home ``axes`` (both by default): each runs to its reference switch."""
        bad = [a for a in axes if a not in ("x", "y")]
        if bad or not axes:
            raise ConfigError(f"stage axes to home must be x and/or y, not {list(axes)}")
        if set(axes) == {"x", "y"}:
            self._do_home()
        else:
            self._do_home_axis(axes[0])

    def is_homed(self) -> bool | None:
        """Whether the stage may move: True, False, or None where the backend cannot tell."""
        return self._do_is_homed()

    def homed_axes(self) -> dict[str, bool | None]:
        """``is_homed`` per axis, where the backend tells them apart."""
        homed = self.is_homed()
        return {"x": homed, "y": homed}

    def _do_is_homed(self) -> bool | None:
        return None if self.requires_homing else True

    def _do_home_axis(self, axis: str) -> None:
        raise DeviceError(f"this stage backend homes x and y together; home both ({axis} asked)")

    def stop(self) -> None:
        """Stop both axes now (used by abort)."""
        self._do_stop()

    @abstractmethod
    def _do_start_move(self, x_mm: float, y_mm: float) -> None: ...

    @abstractmethod
    def _do_wait(self) -> None: ...

    @abstractmethod
    def _do_get_position(self) -> tuple[float, float]: ...

    @abstractmethod
    def _do_home(self) -> None: ...

    @abstractmethod
    def _do_stop(self) -> None: ...


class FocusAxis(Device):
    """The focus (z) axis in um; its upper soft limit keeps the objective off the slide."""

    kind = "focus"
    requires_homing: bool = False

    def __init__(self, limits_um: tuple[float, float]) -> None:
        self.limits_um = limits_um

    def check_limits(self, z_um: float) -> None:
        _check_finite("focus position", z_um)
        lo, hi = self.limits_um
        if not lo <= z_um <= hi:
            raise LimitError(
                f"focus z = {z_um:.3f} um is outside the soft limits focus.limits_um = "
                f"[{lo}, {hi}]; nothing was moved"
            )

    def start_move_to_um(self, z_um: float) -> None:
        self.check_limits(z_um)
        self._do_start_move(float(z_um))

    def wait(self) -> None:
        self._do_wait()

    def move_to_um(self, z_um: float) -> None:
        self.start_move_to_um(z_um)
        self.wait()

    def move_by_um(self, dz_um: float) -> None:
        self.move_to_um(self.position_um() + dz_um)

    def position_um(self) -> float:
        return self._do_get_position()

    def home(self) -> None:
        self._do_home()

    def is_homed(self) -> bool | None:
        """As ``XYStage.is_homed``."""
        return self._do_is_homed()

    def _do_is_homed(self) -> bool | None:
        return None if self.requires_homing else True

    def stop(self) -> None:
        self._do_stop()

    @abstractmethod
    def _do_start_move(self, z_um: float) -> None: ...

    @abstractmethod
    def _do_wait(self) -> None: ...

    @abstractmethod
    def _do_get_position(self) -> float: ...

    @abstractmethod
    def _do_home(self) -> None: ...

    @abstractmethod
    def _do_stop(self) -> None: ...
