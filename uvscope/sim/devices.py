"""Simulated camera, filter wheel, XY stage and focus axis on a (virtual) clock.

They implement the same interfaces as the real drivers. Each operation takes the time the
modelled hardware would take (exposure, readout, trapezoidal moves, settle, wheel steps),
spent on the rig's clock: instantly on a ``VirtualClock``, for real on a ``RealClock``.
The camera is stage-aware: it renders the simulated slide at whatever position the rig's
stage, focus and wheel report, so it also works beside real (or emulated) motion devices.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Protocol

import numpy as np

from uvscope.clock import Clock, RealClock, VirtualClock
from uvscope.config import CameraConfig, FilterWheelConfig, FocusConfig, RigConfig, StageConfig
from uvscope.drivers.base import (
    Camera,
    DeviceInfo,
    FilterWheel,
    FocusAxis,
    Frame,
    FrameMeta,
    XYStage,
)
from uvscope.drivers.registry import BuildContext, register_device, register_rig
from uvscope.drivers.rig import Rig
from uvscope.errors import DeviceError
from uvscope.sim.faults import FaultInjector


class Renderer(Protocol):
    """What the simulated camera needs from the simulated world."""

    def render(
        self,
        x_mm: float,
        y_mm: float,
        z_um: float,
        wavelength_nm: int | None,
        exposure_ms: float,
        rng: np.random.Generator,
    ) -> np.ndarray: ...


def trapezoid_time_s(distance: float, velocity: float, acceleration: float) -> float:
    """Duration of a point-to-point move with a trapezoidal (or triangular) velocity profile."""
    d = abs(distance)
    if d == 0:
        return 0.0
    if d < velocity**2 / acceleration:
        return 2.0 * math.sqrt(d / acceleration)
    return d / velocity + velocity / acceleration


class _Timed:
    """Shared bits: clock, faults, and the end time of the operation in progress."""

    def __init__(self, clock: Clock, faults: FaultInjector | None, name: str) -> None:
        self.clock = clock
        self.faults = faults
        self._name = name
        self._busy_until = 0.0
        self._lock = threading.RLock()

    def _fault(self, op: str) -> None:
        if self.faults is not None:
            self.faults.check(self._name, op)

    #: status poll period of a real-time wait (a real controller is polled about this often)
    poll_s = 0.02

    def _poll_until_idle(self) -> None:
        """Wait for the end of the move, re-reading it each poll so ``stop()`` ends the wait
        within one poll (on a virtual clock: one jump to the end)."""
        if getattr(self.clock, "virtual", False):
            self.clock.sleep_until(self._busy_until)
            return
        while self.clock.now() < self._busy_until:
            self.clock.sleep(min(self.poll_s, self._busy_until - self.clock.now()))


class SimXYStage(XYStage, _Timed):
    def __init__(
        self,
        cfg: StageConfig,
        clock: Clock,
        faults: FaultInjector | None = None,
        start_mm: tuple[float, float] | None = None,
    ) -> None:
        XYStage.__init__(self, tuple(cfg.x_limits_mm), tuple(cfg.y_limits_mm))  # type: ignore[arg-type]
        _Timed.__init__(self, clock, faults, "stage")
        self.cfg = cfg
        x0 = start_mm or (
            (cfg.x_limits_mm[0] + cfg.x_limits_mm[1]) / 2,
            (cfg.y_limits_mm[0] + cfg.y_limits_mm[1]) / 2,
        )
        self._from = x0
        self._to = x0
        self._t0 = 0.0
        self._t1 = 0.0  # motion end (settle excluded)
        self.homed = False
        self.moves = 0
        self.travel_mm = 0.0
        #: every position ever asked of this stage, refused or not (safety tests read it)
        self.requested: list[tuple[float, float]] = []

    def start_move_to_mm(self, x_mm: float, y_mm: float) -> None:
        self.requested.append((x_mm, y_mm))
        super().start_move_to_mm(x_mm, y_mm)

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo("xy_stage", "simulated MLS203", "SIM-XY", "sim")

    def move_duration_s(self, x_mm: float, y_mm: float, frm: tuple[float, float]) -> float:
        v, a = self.cfg.velocity_mm_s, self.cfg.acceleration_mm_s2
        return max(trapezoid_time_s(x_mm - frm[0], v, a), trapezoid_time_s(y_mm - frm[1], v, a))

    def _do_start_move(self, x_mm: float, y_mm: float) -> None:
        self._fault("move")
        with self._lock:
            now = self.clock.now()
            frm = self._do_get_position()
            self._from, self._to = frm, (x_mm, y_mm)
            self._t0 = now
            self._t1 = now + self.move_duration_s(x_mm, y_mm, frm)
            self._busy_until = self._t1 + self.cfg.settle_ms / 1000.0
            self.moves += 1
            self.travel_mm += math.hypot(x_mm - frm[0], y_mm - frm[1])

    def _do_wait(self) -> None:
        self._fault("wait")
        self._poll_until_idle()

    def _do_get_position(self) -> tuple[float, float]:
        with self._lock:
            now = self.clock.now()
            if now >= self._t1 or self._t1 <= self._t0:
                return self._to
            f = (now - self._t0) / (self._t1 - self._t0)
            return (
                self._from[0] + f * (self._to[0] - self._from[0]),
                self._from[1] + f * (self._to[1] - self._from[1]),
            )

    def _do_home(self) -> None:
        self._fault("home")
        self.homed = True

    def _do_stop(self) -> None:
        with self._lock:
            pos = self._do_get_position()
            self._from = self._to = pos
            self._t1 = self._busy_until = self.clock.now()

    @property
    def moving(self) -> bool:
        return self.clock.now() < self._busy_until


class SimFocusAxis(FocusAxis, _Timed):
    def __init__(
        self,
        cfg: FocusConfig,
        clock: Clock,
        faults: FaultInjector | None = None,
        start_um: float | None = None,
    ) -> None:
        FocusAxis.__init__(self, tuple(cfg.limits_um))  # type: ignore[arg-type]
        _Timed.__init__(self, clock, faults, "focus")
        self.cfg = cfg
        self._z = start_um if start_um is not None else (cfg.limits_um[0] + cfg.limits_um[1]) / 2
        self.moves = 0
        #: every z ever asked of this axis, refused or not (safety tests read it)
        self.requested: list[float] = []

    def start_move_to_um(self, z_um: float) -> None:
        self.requested.append(z_um)
        super().start_move_to_um(z_um)

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo("focus", "simulated focus axis", "SIM-Z", "sim")

    def _do_start_move(self, z_um: float) -> None:
        self._fault("move")
        with self._lock:
            dt = trapezoid_time_s(
                z_um - self._z, self.cfg.velocity_um_s, self.cfg.acceleration_um_s2
            )
            if dt > 0:
                self._busy_until = self.clock.now() + dt + self.cfg.settle_ms / 1000.0
                self.moves += 1
            self._z = z_um

    def _do_wait(self) -> None:
        self._fault("wait")
        self._poll_until_idle()

    def _do_get_position(self) -> float:
        return self._z

    def _do_home(self) -> None:
        self._fault("home")

    def _do_stop(self) -> None:
        self._busy_until = self.clock.now()


class SimFilterWheel(FilterWheel, _Timed):
    def __init__(
        self, cfg: FilterWheelConfig, clock: Clock, faults: FaultInjector | None = None
    ) -> None:
        FilterWheel.__init__(
            self, {int(k): v for k, v in cfg.slots.items()}, cfg.positions, cfg.dark_slot
        )
        _Timed.__init__(self, clock, faults, "filter_wheel")
        self.cfg = cfg
        self._slot = min(self.slots.values()) if self.slots else 1
        self.moves = 0

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(
            "filter_wheel", "simulated FW102C", "SIM-FW", "sim", {"positions": self.position_count}
        )

    def move_duration_s(self, a: int, b: int) -> float:
        n = self.position_count
        steps = min((a - b) % n, (b - a) % n)
        return steps * self.cfg.move_ms_per_slot / 1000.0

    def _do_start_move(self, slot: int) -> None:
        self._fault("move")
        with self._lock:
            if slot != self._slot:
                start = max(self.clock.now(), self._busy_until)
                self._busy_until = start + self.move_duration_s(self._slot, slot)
                self._slot = slot
                self.moves += 1

    def _do_wait(self) -> None:
        self._fault("wait")
        self.clock.sleep_until(self._busy_until)

    def _do_get_slot(self) -> int:
        return self._slot


class SimCamera(Camera, _Timed):
    """Renders the simulated slide where the rig's stage, focus and wheel are.

    Modelled on an interline CCD: the next exposure may start while the previous frame is
    read out (``max_pending_frames = 2``); readouts follow each other, one at a time.
    """

    max_pending_frames = 2

    def __init__(
        self,
        cfg: CameraConfig,
        clock: Clock,
        renderer: Renderer,
        stage: XYStage,
        focus: FocusAxis,
        wheel: FilterWheel,
        faults: FaultInjector | None = None,
        seed: int = 0,
    ) -> None:
        Camera.__init__(
            self,
            cfg.width_px,
            cfg.height_px,
            cfg.bit_depth,
            (cfg.exposure_min_ms, cfg.exposure_max_ms),
        )
        _Timed.__init__(self, clock, faults, "camera")
        self.cfg = cfg
        self.renderer = renderer
        self.stage, self.focus, self.wheel = stage, focus, wheel
        self._rng = np.random.default_rng(seed)
        # (x, y, z, wavelength, exposure, start time, readout end) per frame in flight
        self._pending: deque[tuple[float, float, float, int | None, float, float, float]] = deque()
        self._readout_end = 0.0
        self._index = 0
        self.frames = 0

    def _do_info(self) -> DeviceInfo:
        return DeviceInfo(
            "camera",
            "simulated pco.ultraviolet",
            "SIM-CAM",
            "sim",
            {"width": self.width_px, "height": self.height_px, "bit_depth": self.bit_depth},
        )

    def _do_set_exposure_ms(self, exposure_ms: float) -> None:
        pass

    def _light_wavelength(self) -> int | None:
        slot = self.wheel.slot
        if self.wheel.dark_slot is not None and slot == self.wheel.dark_slot:
            return None
        return next((nm for nm, p in self.wheel.slots.items() if p == slot), None)

    def _do_trigger(self) -> None:
        self._fault("trigger")
        with self._lock:
            if len(self._pending) >= self.max_pending_frames:
                raise DeviceError("camera: frame buffer full; read frames before triggering")
            t_start = self.clock.now()
            x, y = self.stage.position_mm()
            z = self.focus.position_um()
            self.clock.sleep(self._exposure_ms / 1000.0)
            self._readout_end = (
                max(self.clock.now(), self._readout_end) + self.cfg.readout_ms / 1000.0
            )
            self._pending.append(
                (x, y, z, self._light_wavelength(), self._exposure_ms, t_start, self._readout_end)
            )

    def _do_connect(self) -> None:
        self._pending.clear()  # a reopened camera has no frame in flight

    def _do_read(self, timeout_s: float) -> Frame:
        with self._lock:
            if not self._pending:
                raise DeviceError("camera: read without a trigger")
            x, y, z, nm, exp, t0, t_ready = self._pending.popleft()
            self._fault("read")  # a lost frame: the camera is ready for the next trigger
            self.clock.sleep_until(t_ready)
            image = self.renderer.render(x, y, z, nm, exp, self._rng)
            image = self._orient(image)
            self._index += 1
            self.frames += 1
            return Frame(
                image,
                FrameMeta(
                    exp, t0, self._index, {"x_mm": x, "y_mm": y, "z_um": z, "wavelength_nm": nm}
                ),
            )

    def _orient(self, image: np.ndarray) -> np.ndarray:
        if self.cfg.flip_x:
            image = image[:, ::-1]
        if self.cfg.flip_y:
            image = image[::-1, :]
        return np.ascontiguousarray(image)


def build_sim_rig(
    config: RigConfig, faults: FaultInjector | None = None, renderer: Renderer | None = None
) -> Rig:
    """A fully simulated rig: one world, one clock, the slide in focus at the start."""
    clock: Clock = RealClock() if config.sim.real_time else VirtualClock()
    if renderer is None:
        from uvscope.sim.world import SimWorld

        renderer = SimWorld(config.sim, config.camera)
    world = renderer
    stage = SimXYStage(config.stage, clock, faults)
    sx, sy = config.sim.slide_origin_mm
    w, h = config.sim.slide_size_mm
    centre = (sx + w / 2, sy + h / 2)
    if (
        stage.x_limits_mm[0] <= centre[0] <= stage.x_limits_mm[1]
        and stage.y_limits_mm[0] <= centre[1] <= stage.y_limits_mm[1]
    ):
        stage._from = stage._to = centre
    z0 = config.sim.focus_z_um
    surface = getattr(world, "surface_z_um", None)
    if callable(surface):
        z0 = float(surface(*stage.position_mm()))
    lo, hi = config.focus.limits_um
    focus = SimFocusAxis(config.focus, clock, faults, start_um=min(max(z0, lo), hi))
    wheel = SimFilterWheel(config.filter_wheel, clock, faults)
    camera = SimCamera(
        config.camera, clock, world, stage, focus, wheel, faults, seed=config.sim.seed
    )
    return Rig(
        config=config,
        camera=camera,
        filter_wheel=wheel,
        stage=stage,
        focus=focus,
        clock=clock,
        world=world,
    )


# ---------------------------------------------------------------------- backend registry


def _sim_camera(ctx: BuildContext) -> SimCamera:
    """A simulated camera beside any stage, focus and wheel; it renders the virtual slide
    (``ctx.renderer``, made here when the caller gave none) wherever they are."""
    if ctx.renderer is None:
        from uvscope.sim.world import SimWorld

        ctx.renderer = SimWorld(ctx.config.sim, ctx.config.camera)
    return SimCamera(
        ctx.config.camera,
        ctx.clock,
        ctx.renderer,
        ctx.stage,
        ctx.focus,
        ctx.wheel,
        seed=ctx.config.sim.seed,
    )


def _sim_focus(ctx: BuildContext) -> SimFocusAxis:
    lo, hi = ctx.config.focus.limits_um
    return SimFocusAxis(
        ctx.config.focus, ctx.clock, start_um=min(max(ctx.config.sim.focus_z_um, lo), hi)
    )


register_rig("sim", build_sim_rig)
register_device("xy_stage", "sim", lambda ctx: SimXYStage(ctx.config.stage, ctx.clock))
register_device("focus", "sim", _sim_focus)
register_device(
    "filter_wheel", "sim", lambda ctx: SimFilterWheel(ctx.config.filter_wheel, ctx.clock)
)
register_device("camera", "sim", _sim_camera)
