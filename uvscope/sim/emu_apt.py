"""A Thorlabs APT BBD rack (MLS203 X and Y, plus a focus bay) on a pseudo-terminal.

It decodes the host's binary messages with the driver's own message module
(``uvscope.drivers.apt_protocol``) from the controller side and answers like a BBD: HW_GET_INFO,
MOVE_HOMED, MOVE_COMPLETED with the DC status block, GET_DCSTATUSUPDATE, GET_VELPARAMS...
Moves follow a trapezoidal velocity profile from the velocity parameters the host set.
For tests it records every frame received and every requested position, and flags a request
outside the configured soft limits; faults: no reply, garbled reply, dropped connection,
stalled axis (motion error), slow moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from uvscope.drivers import apt_protocol as ap
from uvscope.sim.emu_pty import PtyEmulator

#: BBD velocity / acceleration units per count/s and count/s^2 (sample time 102.4 us):
#: 20,000 counts/mm x 6.7108864 = 134,217.73 per mm/s; x 6.8719e-4 = 13.744 per mm/s^2
VEL_UNITS_PER_COUNT_S = 102.4e-6 * 65536
ACC_UNITS_PER_COUNT_S2 = (102.4e-6) ** 2 * 65536


@dataclass(frozen=True)
class RequestedMove:
    t: float
    bay: int
    target: int
    kind: str  # "absolute" or "relative"


@dataclass
class EmuAxis:
    """One bay: position in counts, velocity parameters in BBD units, state bits."""

    bay: int
    travel: tuple[int, int]
    soft_limits: tuple[int, int] | None = None
    position: int = 0
    homed: bool = False
    enabled: bool = False
    max_velocity: int = int(50 * 20_000 * VEL_UNITS_PER_COUNT_S)  # 50 mm/s on an MLS203
    acceleration: int = int(500 * 20_000 * ACC_UNITS_PER_COUNT_S2)
    home_time_s: float = 2.0
    settle_s: float = 0.01
    stall_next: bool = False
    # a move in progress
    start: int = 0
    target: int = 0
    t0: float = 0.0
    duration: float = 0.0
    kind: str = ""  # "", "move" or "home"
    hit_limit: bool = False
    motion_error: bool = False
    settled_at: float = 0.0
    stall_at: float | None = None
    extra: dict[str, int] = field(default_factory=dict)

    def counts_per_s(self) -> float:
        return max(1.0, self.max_velocity / VEL_UNITS_PER_COUNT_S)

    def counts_per_s2(self) -> float:
        return max(1.0, self.acceleration / ACC_UNITS_PER_COUNT_S2)

    def profile_time(self, distance: float) -> float:
        """Duration of a trapezoidal (or triangular) move over ``distance`` counts."""
        v, a = self.counts_per_s(), self.counts_per_s2()
        d = abs(distance)
        if d <= v * v / a:
            return 2.0 * math.sqrt(d / a)
        return d / v + v / a

    def profile_distance(self, distance: float, t: float) -> float:
        """Distance covered ``t`` seconds into a move over ``distance`` counts."""
        v, a = self.counts_per_s(), self.counts_per_s2()
        d = abs(distance)
        total = self.profile_time(d)
        t = min(max(t, 0.0), total)
        vpeak = min(v, math.sqrt(d * a))
        ta = vpeak / a
        if t < ta:
            s = 0.5 * a * t * t
        elif t < total - ta:
            s = 0.5 * a * ta * ta + vpeak * (t - ta)
        else:
            s = d - 0.5 * a * (total - t) ** 2
        return math.copysign(min(s, d), distance)


class EmuAptBBD(PtyEmulator):
    """A BBD rack (or a single USB unit when ``bays == (0x50,)``)."""

    name = "apt-bbd"

    def __init__(
        self,
        *,
        bays: dict[int, tuple[int, int]] | None = None,
        soft_limits: dict[int, tuple[int, int]] | None = None,
        start_homed: bool = False,
        slow_factor: float = 1.0,
        serial: int = 73000001,
        model: str = "BBD203",
        name: str | None = None,
        on_violation: Callable[[str], None] | None = None,
        link_dir: str | Path | None = None,
        time_scale: float = 1.0,
    ) -> None:
        if name:
            self.name = name
        super().__init__(link_dir=link_dir, time_scale=time_scale)
        # MLS203 travel: X 0..2,200,000, Y 0..1,500,000 counts; focus 0..500,000 (25 mm)
        bays = bays or {0x21: (0, 2_200_000), 0x22: (0, 1_500_000), 0x23: (0, 500_000)}
        soft_limits = soft_limits or {}
        self.axes = {
            bay: EmuAxis(bay, travel, soft_limits.get(bay), homed=start_homed)
            for bay, travel in bays.items()
        }
        self.slow_factor = slow_factor
        self.serial = serial
        self.model = model
        self.on_violation = on_violation
        self.reader = ap.FrameReader()
        self.frames: list[tuple[float, ap.Frame]] = []
        self.requested: list[RequestedMove] = []
        self.violations: list[str] = []
        self.acks: list[float] = []
        #: (time, msgid, dest) of every reply queued, to check exchanges never interleave
        self.replies: list[tuple[float, int, int]] = []
        self.reply_delay_s = 0.0
        self.updates = False
        self._next_update = 0.0

    # ------------------------------------------------------------------ faults
    def stall(self, bay: int) -> None:
        """The next move of ``bay`` stops half-way with the motion-error bit set."""
        with self.lock:
            self.axes[bay].stall_next = True

    def on_drop(self) -> None:
        self.reader.clear()

    # ------------------------------------------------------------------ state
    def _status(self, ax: EmuAxis, now: float) -> ap.AxisStatus:
        bits = 0
        velocity = 0
        if ax.kind == "move":
            dist = ax.target - ax.start
            bits |= ap.MOVING_FWD if dist > 0 else ap.MOVING_REV
            velocity = int(math.copysign(min(32767, ax.counts_per_s() / 100), dist))
        elif ax.kind == "home":
            bits |= ap.HOMING | ap.MOVING_REV
        if ax.homed:
            bits |= ap.HOMED
        if ax.enabled:
            bits |= ap.ENABLED
        if ax.hit_limit:
            bits |= ap.LIMIT_FWD if ax.position >= ax.travel[1] else ap.LIMIT_REV
        if ax.motion_error:
            bits |= ap.MOTION_ERROR
        if not ax.kind and not ax.motion_error and now >= ax.settled_at:
            bits |= ap.SETTLED
        return ap.AxisStatus(ap.CHANNEL, self._position(ax, now), velocity, bits)

    def _position(self, ax: EmuAxis, now: float) -> int:
        if ax.kind != "move" or ax.duration <= 0:
            return ax.position
        frac_t = (now - ax.t0) / ax.duration
        dist = ax.target - ax.start
        return ax.start + round(ax.profile_distance(dist, frac_t * ax.profile_time(dist)))

    def _answer(self, data: bytes, msgid: int, dest: int) -> None:
        self.replies.append((self.now() + self.reply_delay_s, msgid, dest))
        self.reply(data, self.reply_delay_s)

    # ------------------------------------------------------------------ requests
    def handle_bytes(self, data: bytes) -> None:
        now = self.now()
        for frame in self.reader.feed(data):
            self.frames.append((now, frame))
            self._request(frame, now)

    def _request(self, f: ap.Frame, now: float) -> None:
        if f.msgid == ap.MOT_ACK_DCSTATUSUPDATE:
            self.acks.append(now)
            return
        if f.msgid == ap.HW_NO_FLASH_PROGRAMMING:
            return
        if f.msgid == ap.HW_REQ_INFO and (f.dest in (ap.RACK, ap.USB_UNIT) or f.dest in self.axes):
            reply = ap.get_info(f.dest, serial=self.serial, model=self.model, hw_type=44,
                                firmware=(3, 0, 10), notes="uvscope APT emulator",
                                hw_version=1, n_channels=len(self.axes))
            self._answer(reply, ap.HW_GET_INFO, f.dest)
            return
        if f.msgid == ap.HW_START_UPDATEMSGS:
            self.updates, self._next_update = True, now
            return
        if f.msgid == ap.HW_STOP_UPDATEMSGS:
            self.updates = False
            return
        ax = self.axes.get(f.dest)
        if ax is None:
            return  # nobody in that bay: a real rack stays silent too
        req = ap.decode_request(f)
        if f.msgid == ap.MOD_SET_CHANENABLESTATE:
            ax.enabled = req["param2"] == 1
            if ax.enabled:
                ax.motion_error = False  # re-enabling the channel clears a following error
        elif f.msgid == ap.MOD_REQ_CHANENABLESTATE:
            self._answer(ap.get_chanenable(ax.bay, ax.enabled), ap.MOD_GET_CHANENABLESTATE, ax.bay)
        elif f.msgid == ap.MOT_SET_VELPARAMS:
            ax.acceleration, ax.max_velocity = req["acceleration"], req["max_velocity"]
        elif f.msgid == ap.MOT_REQ_VELPARAMS:
            self._answer(ap.get_velparams(ax.bay, 0, ax.acceleration, ax.max_velocity),
                         ap.MOT_GET_VELPARAMS, ax.bay)
        elif f.msgid == ap.MOT_REQ_DCSTATUSUPDATE:
            status = ap.status_message(ap.MOT_GET_DCSTATUSUPDATE, ax.bay, self._status(ax, now))
            self._answer(status, ap.MOT_GET_DCSTATUSUPDATE, ax.bay)
        elif f.msgid == ap.MOT_REQ_STATUSBITS:
            self._answer(ap.get_statusbits(ax.bay, self._status(ax, now).bits),
                         ap.MOT_GET_STATUSBITS, ax.bay)
        elif f.msgid == ap.MOT_MOVE_HOME:
            if ax.enabled:
                ax.kind, ax.t0 = "home", now
                ax.start, ax.target = self._position(ax, now), 0
                ax.duration = self.scaled(ax.home_time_s * self.slow_factor)
                ax.motion_error = ax.hit_limit = False
        elif f.msgid in (ap.MOT_MOVE_ABSOLUTE, ap.MOT_MOVE_RELATIVE):
            current = self._position(ax, now)
            absolute = f.msgid == ap.MOT_MOVE_ABSOLUTE
            target = req["counts"] if absolute else current + req["counts"]
            self.requested.append(RequestedMove(now, ax.bay, target,
                                                "absolute" if absolute else "relative"))
            if ax.soft_limits and not ax.soft_limits[0] <= target <= ax.soft_limits[1]:
                msg = f"bay {ax.bay:#04x}: move to {target} outside soft limits {ax.soft_limits}"
                self.violations.append(msg)
                if self.on_violation:
                    self.on_violation(msg)
            if ax.enabled and ax.homed and not ax.motion_error:
                self._start_move(ax, current, target, now)
        elif f.msgid == ap.MOT_MOVE_STOP:
            ax.position = self._position(ax, now)
            ax.kind, ax.settled_at = "", now + self.scaled(ax.settle_s)
            self._answer(ap.status_message(ap.MOT_MOVE_STOPPED, ax.bay, self._status(ax, now)),
                         ap.MOT_MOVE_STOPPED, ax.bay)

    def _start_move(self, ax: EmuAxis, current: int, target: int, now: float) -> None:
        lo, hi = ax.travel
        clipped = min(max(target, lo), hi)  # the hardware limit switch stops it there
        ax.hit_limit = clipped != target
        ax.kind, ax.t0, ax.start, ax.target = "move", now, current, clipped
        ax.duration = self.scaled(ax.profile_time(clipped - current) * self.slow_factor)
        ax.stall_at = None
        if ax.stall_next:
            ax.stall_next = False
            ax.stall_at = now + ax.duration / 2

    # ------------------------------------------------------------------ timed events
    def tick(self) -> None:
        now = self.now()
        for ax in self.axes.values():
            if ax.kind == "move" and ax.stall_at is not None and now >= ax.stall_at:
                # following error: the axis stops where it is, no MOVE_COMPLETED is sent
                ax.position = self._position(ax, now)
                ax.kind, ax.motion_error, ax.stall_at = "", True, None
                ax.enabled = False  # the controller switches the motor off
            elif ax.kind and now >= ax.t0 + ax.duration:
                kind, ax.kind = ax.kind, ""
                ax.position = ax.target
                ax.settled_at = now + self.scaled(ax.settle_s)
                if kind == "home":
                    ax.homed = True
                    self._answer(ap.move_homed(ax.bay), ap.MOT_MOVE_HOMED, ax.bay)
                else:
                    status = self._status(ax, now)
                    self._answer(ap.status_message(ap.MOT_MOVE_COMPLETED, ax.bay, status),
                                 ap.MOT_MOVE_COMPLETED, ax.bay)
        if self.updates and now >= self._next_update:
            self._next_update = now + 0.1
            for ax in self.axes.values():
                self.send(ap.status_message(ap.MOT_GET_DCSTATUSUPDATE, ax.bay,
                                            self._status(ax, now)))

    # ------------------------------------------------------------------ helpers for tests
    def frames_of(self, msgid: int) -> list[ap.Frame]:
        with self.lock:
            return [f for _, f in self.frames if f.msgid == msgid]
