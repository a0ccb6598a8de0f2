"""A Thorlabs APT BBD rack (MLS203 X and Y, plus a focus bay) on a pseudo-terminal.

It decodes the host's binary messages with the driver's own message module
(``uvscope.drivers.apt_protocol``) from the controller side and answers every request a real
client sends (our driver, pyLabLib's KinesisMotor, thorlabs-apt-device's BBD20x, Thorlabs'
Micro-Manager adapter): HW_GET_INFO, RACK_GET_BAYUSED, the DC status block, status bits,
position counter, velocity / jog / home / limit-switch / move parameters, stage axis
parameters. Moves (absolute, relative, header-only ones that use the stored parameters,
velocity, jog, home) follow a trapezoidal profile from the velocity parameters the host set
and end with MOVE_COMPLETED, MOVE_STOPPED or MOVE_HOMED; status update messages run per bay
after HW_START_UPDATEMSGS. A move the controller cannot carry out (channel disabled, axis
homing or not homed) is answered with HW_RICHRESPONSE and recorded in ``refused``.

For tests it records every frame received and every requested position, and flags a request
outside the configured soft limits; faults: no reply, garbled reply, dropped connection,
stalled axis (motion error), slow moves. No byte sequence stops it: a request it cannot
handle is recorded in ``errors`` (a bug to fix) and the port keeps answering.

Where the manual is silent, the emulator decides as follows (and says on what ground):

- HW_START/STOP_UPDATEMSGS sent to the rack (0x11) or a USB unit (0x50) start or stop every
  bay; sent to a bay, that bay only. Ground: the APT protocol manual describes them per
  controller only (hardware.md); pyLabLib (``kinesis.py``, ``KinesisMotor.__init__``) sends
  one HW_STOP_UPDATEMSGS to the rack of a rack system and then reads on expecting silence,
  and thorlabs-apt-device (``aptdevice.py``) starts them per bay, so a BBD rack must honour
  both. Unverified on a real rack; uvscope's driver stops them at the rack and at each bay.
- The controller's state outlives a client: closing the port stops nothing (position,
  homing, enabled bays, update messages and a move in progress go on), since the rack is
  powered apart from its USB link (thorlabs-apt-device 0.3.8 stops its update messages from
  its event-loop thread after ``close()`` has returned; a program that is killed never
  does). Bytes sent while no client has the port open wait in the pty until the next
  client's open sequence purges them (the APT open sequence purges both directions,
  hardware.md).
- A move sent during a move takes the axis from where it is to the new target; the move it
  replaces sends no end message. MOT_MOVE_STOP to a still axis answers MOVE_STOPPED.
  Unverified; uvscope's driver stops a motion it did not start at connect and waits for that
  stop, so it relies on neither.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uvscope.drivers import apt_protocol as ap
from uvscope.sim.emu_pty import PtyEmulator

#: BBD velocity / acceleration units per count/s and count/s^2 (sample time 102.4 us):
#: 20,000 counts/mm x 6.7108864 = 134,217.73 per mm/s; x 6.8719e-4 = 13.744 per mm/s^2
VEL_UNITS_PER_COUNT_S = 102.4e-6 * 65536
ACC_UNITS_PER_COUNT_S2 = (102.4e-6) ** 2 * 65536

#: HW_RICHRESPONSE codes the emulator uses (its own numbering: the manual lists none)
REFUSED_DISABLED = 1
REFUSED_NOT_HOMED = 2
REFUSED_HOMING = 3

JOG_CONTINUOUS = 1
JOG_STEP = 2


@dataclass(frozen=True)
class RequestedMove:
    t: float
    bay: int
    target: int
    kind: str  # "absolute", "relative", "velocity" or "jog"


def _vel_units(mm_s: float) -> int:
    return int(mm_s * 20_000 * VEL_UNITS_PER_COUNT_S)


@dataclass
class EmuAxis:
    """One bay: position in counts, parameters in BBD units, state bits."""

    bay: int
    travel: tuple[int, int]
    soft_limits: tuple[int, int] | None = None
    position: int = 0
    homed: bool = False
    enabled: bool = True
    max_velocity: int = _vel_units(50.0)  # 50 mm/s on an MLS203
    acceleration: int = int(500 * 20_000 * ACC_UNITS_PER_COUNT_S2)
    settle_s: float = 0.01
    stall_next: bool = False
    updates: bool = False
    # stored parameters (SET_* / REQ_*)
    home_dir: int = 2  # reverse
    home_limit_switch: int = 1  # the reverse hard limit
    home_velocity: int = _vel_units(10.0)
    home_offset: int = 0
    home_index_s: float = 0.3  # search for the encoder index after the switch
    move_abs_param: int = 0
    move_rel_param: int = 0
    backlash: int = 0
    jog: dict[str, int] = field(
        default_factory=lambda: {
            "jog_mode": JOG_STEP,
            "step_size": 2000,
            "min_velocity": 0,
            "acceleration": int(500 * 20_000 * ACC_UNITS_PER_COUNT_S2),
            "max_velocity": _vel_units(10.0),
            "stop_mode": 2,
        }
    )
    limswitch: dict[str, int] = field(
        default_factory=lambda: {
            "cw_hard": 3,
            "ccw_hard": 3,
            "cw_soft": 0,
            "ccw_soft": 0,
            "soft_mode": ap.SOFT_LIMIT_IGNORE,
        }
    )
    trigger_mode: int = 0
    # a move in progress
    start: int = 0
    target: int = 0
    t0: float = 0.0
    duration: float = 0.0
    kind: str = ""  # "", "move" or "home"
    end_stopped: bool = False  # the move ends short of the asked target (a limit)
    hit_limit: bool = False
    motion_error: bool = False
    settled_at: float = 0.0
    stall_at: float | None = None

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

    def home_time(self) -> float:
        """Back to the reverse switch at the home velocity, then the index search."""
        v = max(1.0, self.home_velocity / VEL_UNITS_PER_COUNT_S)
        return abs(self.position - self.travel[0]) / v + self.home_index_s

    def reachable(self, target: int) -> int:
        """Where a move to ``target`` stops: the travel, and the controller's own soft
        limits when they are on (MOT_SET_LIMSWITCHPARAMS)."""
        lo, hi = self.travel
        lim = self.limswitch
        if lim["soft_mode"] != ap.SOFT_LIMIT_IGNORE and lim["cw_soft"] > lim["ccw_soft"]:
            lo, hi = max(lo, lim["ccw_soft"]), min(hi, lim["cw_soft"])
        return min(max(target, lo), hi)


Handler = Callable[[EmuAxis, ap.Frame, dict[str, Any], float], None]


class EmuAptBBD(PtyEmulator):
    """A BBD rack (or a single USB unit when ``bays == (0x50,)``)."""

    name = "apt-bbd"

    def __init__(
        self,
        *,
        bays: dict[int, tuple[int, int]] | None = None,
        soft_limits: dict[int, tuple[int, int]] | None = None,
        start_homed: bool = False,
        start_enabled: bool = True,
        slow_factor: float = 1.0,
        serial: int = 73000001,
        model: str = "BBD203",
        name: str | None = None,
        on_violation: Callable[[str], None] | None = None,
        link_dir: str | Path | None = None,
        time_scale: float = 1.0,
        reports_travel: bool = True,
    ) -> None:
        if name:
            self.name = name
        #: False: no reply to MOT_REQ_STAGEAXISPARAMS (firmware that does not know it)
        self.reports_travel = reports_travel
        super().__init__(link_dir=link_dir, time_scale=time_scale)
        # MLS203 travel: X 0..2,200,000, Y 0..1,500,000 counts; focus 0..500,000 (25 mm)
        bays = bays or {0x21: (0, 2_200_000), 0x22: (0, 1_500_000), 0x23: (0, 500_000)}
        soft_limits = soft_limits or {}
        self.axes = {
            bay: EmuAxis(
                bay, travel, soft_limits.get(bay), homed=start_homed, enabled=start_enabled
            )
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
        #: (bay, msgid, reason) of every move the controller refused
        self.refused: list[tuple[int, int, str]] = []
        self.acks: list[float] = []
        #: (time, msgid, dest) of every reply queued, to check exchanges never interleave
        self.replies: list[tuple[float, int, int]] = []
        self.reply_delay_s = 0.0
        self._next_update = 0.0
        self._handlers: dict[int, Handler] = {
            ap.MOD_SET_CHANENABLESTATE: self._set_enable,
            ap.MOD_REQ_CHANENABLESTATE: self._req_enable,
            ap.MOT_SET_VELPARAMS: self._set_velparams,
            ap.MOT_REQ_VELPARAMS: self._req_velparams,
            ap.MOT_REQ_DCSTATUSUPDATE: self._req_dcstatus,
            ap.MOT_REQ_STATUSUPDATE: self._req_statusupdate,
            ap.MOT_REQ_STATUSBITS: self._req_statusbits,
            ap.MOT_REQ_POSCOUNTER: self._req_counter,
            ap.MOT_REQ_ENCCOUNTER: self._req_counter,
            ap.MOT_SET_POSCOUNTER: self._set_poscounter,
            ap.MOT_MOVE_HOME: self._move_home,
            ap.MOT_MOVE_ABSOLUTE: self._move_absolute,
            ap.MOT_MOVE_RELATIVE: self._move_relative,
            ap.MOT_MOVE_VELOCITY: self._move_velocity,
            ap.MOT_MOVE_JOG: self._move_jog,
            ap.MOT_MOVE_STOP: self._move_stop,
            ap.MOT_SET_TRIGGER: self._set_trigger,
            ap.MOT_REQ_TRIGGER: self._req_trigger,
            ap.MOT_REQ_STAGEAXISPARAMS: self._req_stageaxis,
            **{
                msgid: self._set_param
                for msgid in (
                    ap.MOT_SET_MOVEABSPARAMS,
                    ap.MOT_SET_MOVERELPARAMS,
                    ap.MOT_SET_GENMOVEPARAMS,
                    ap.MOT_SET_JOGPARAMS,
                    ap.MOT_SET_HOMEPARAMS,
                    ap.MOT_SET_LIMSWITCHPARAMS,
                )
            },
            **{msgid: self._req_param for msgid in PARAM_REPLIES},
        }

    @property
    def updates(self) -> bool:
        """Whether any bay sends status update messages."""
        return any(ax.updates for ax in self.axes.values())

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
            try:
                self._request(frame, now)
            except Exception as err:  # never let one request take the port down
                self.errors.append(f"{frame!r}: {type(err).__name__}: {err}")

    def _request(self, f: ap.Frame, now: float) -> None:
        if self._controller_request(f, now):
            return
        ax = self.axes.get(f.dest)
        handler = self._handlers.get(f.msgid)
        if ax is None or handler is None:
            return  # nobody in that bay, or a message a BBD ignores: it stays silent too
        req = ap.decode_request(f)
        if req is None:
            return  # too short for its layout: the controller drops it
        handler(ax, f, req, now)

    def _controller_request(self, f: ap.Frame, now: float) -> bool:
        """Messages for the rack (or for all bays); True when handled here."""
        rack = f.dest in (ap.RACK, ap.USB_UNIT)
        if f.msgid == ap.MOT_ACK_DCSTATUSUPDATE:
            self.acks.append(now)
        elif f.msgid in (ap.HW_NO_FLASH_PROGRAMMING, ap.HW_DISCONNECT, ap.MOD_IDENTIFY):
            pass
        elif f.msgid == ap.HW_REQ_INFO:
            if rack or f.dest in self.axes:
                reply = ap.get_info(
                    f.dest,
                    serial=self.serial,
                    model=self.model,
                    hw_type=44,
                    firmware=(3, 0, 10),
                    notes="uvscope APT emulator",
                    hw_version=1,
                    n_channels=len(self.axes),
                )
                self._answer(reply, ap.HW_GET_INFO, f.dest)
        elif f.msgid in (ap.HW_START_UPDATEMSGS, ap.HW_STOP_UPDATEMSGS):
            on = f.msgid == ap.HW_START_UPDATEMSGS
            for ax in self.axes.values():  # to the rack: every bay (module docstring)
                if rack or ax.bay == f.dest:
                    ax.updates = on
            self._next_update = now
        elif f.msgid == ap.RACK_REQ_BAYUSED and f.dest == ap.RACK:
            used = 1 if ap.BAYS[f.param1 % len(ap.BAYS)] in self.axes else 2
            self._answer(
                ap.short_reply(ap.RACK_GET_BAYUSED, ap.RACK, f.param1, used),
                ap.RACK_GET_BAYUSED,
                ap.RACK,
            )
        elif f.msgid == ap.RACK_REQ_STATUSBITS and f.dest == ap.RACK:
            reply = ap.Frame(
                ap.RACK_GET_STATUSBITS, ap.HOST, ap.RACK, data=b"\0\0\0\0", long=True
            ).to_bytes()
            self._answer(reply, ap.RACK_GET_STATUSBITS, ap.RACK)
        else:
            return False
        return True

    # ------------------------------------------------------------------ parameters
    def _set_enable(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        ax.enabled = req["param2"] == 1
        if ax.enabled:
            ax.motion_error = False  # re-enabling the channel clears a following error
        elif ax.kind:
            self._end(ax, now, stopped=True)  # the motor is switched off where it is

    def _req_enable(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        self._answer(ap.get_chanenable(ax.bay, ax.enabled), ap.MOD_GET_CHANENABLESTATE, ax.bay)

    def _set_velparams(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        ax.acceleration, ax.max_velocity = req["acceleration"], req["max_velocity"]

    def _req_velparams(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        self._answer(
            ap.get_velparams(ax.bay, 0, ax.acceleration, ax.max_velocity),
            ap.MOT_GET_VELPARAMS,
            ax.bay,
        )

    def _req_dcstatus(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        status = ap.status_message(ap.MOT_GET_DCSTATUSUPDATE, ax.bay, self._status(ax, now))
        self._answer(status, ap.MOT_GET_DCSTATUSUPDATE, ax.bay)

    def _req_statusupdate(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        st = self._status(ax, now)
        self._answer(ap.get_statusupdate(ax.bay, st, st.position), ap.MOT_GET_STATUSUPDATE, ax.bay)

    def _req_statusbits(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        self._answer(
            ap.get_statusbits(ax.bay, self._status(ax, now).bits), ap.MOT_GET_STATUSBITS, ax.bay
        )

    def _req_counter(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        msgid = ap.MOT_GET_POSCOUNTER if f.msgid == ap.MOT_REQ_POSCOUNTER else ap.MOT_GET_ENCCOUNTER
        self._answer(ap.long_reply(msgid, ax.bay, "<Hl", self._position(ax, now)), msgid, ax.bay)

    def _set_poscounter(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        if not ax.kind:
            ax.position = req["counts"]

    def _set_param(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        if f.msgid == ap.MOT_SET_MOVEABSPARAMS:
            ax.move_abs_param = req["counts"]
        elif f.msgid == ap.MOT_SET_MOVERELPARAMS:
            ax.move_rel_param = req["counts"]
        elif f.msgid == ap.MOT_SET_GENMOVEPARAMS:
            ax.backlash = req["backlash"]
        elif f.msgid == ap.MOT_SET_JOGPARAMS:
            ax.jog.update({k: v for k, v in req.items() if k != "chan"})
        elif f.msgid == ap.MOT_SET_HOMEPARAMS:
            ax.home_dir, ax.home_limit_switch = req["home_dir"], req["limit_switch"]
            ax.home_velocity, ax.home_offset = req["home_velocity"], req["offset"]
        elif f.msgid == ap.MOT_SET_LIMSWITCHPARAMS:
            ax.limswitch.update({k: v for k, v in req.items() if k != "chan"})

    def _req_param(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        reply_id, fmt, values = PARAM_REPLIES[f.msgid](ax)
        self._answer(ap.long_reply(reply_id, ax.bay, fmt, *values), reply_id, ax.bay)

    def _set_trigger(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        ax.trigger_mode = f.param2

    def _req_trigger(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        self._answer(
            ap.short_reply(ap.MOT_GET_TRIGGER, ax.bay, ap.CHANNEL, ax.trigger_mode),
            ap.MOT_GET_TRIGGER,
            ax.bay,
        )

    def _req_stageaxis(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        if not self.reports_travel:
            return
        data = struct.pack(
            "<HHH16sLL5l4H4L",
            ap.CHANNEL,
            0x1A,
            ax.bay - 0x20,
            b"MLS203",
            self.serial,
            20_000,
            ax.travel[0],
            ax.travel[1],
            ax.acceleration,
            ax.acceleration,
            ax.max_velocity,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        )
        reply = ap.Frame(ap.MOT_GET_STAGEAXISPARAMS, ap.HOST, ax.bay, data=data, long=True)
        self._answer(reply.to_bytes(), ap.MOT_GET_STAGEAXISPARAMS, ax.bay)

    # ------------------------------------------------------------------ moves
    def _refuse(self, ax: EmuAxis, msgid: int) -> bool:
        """Answer HW_RICHRESPONSE and return True when ``ax`` cannot start a move now."""
        if not ax.enabled or ax.motion_error:
            code, why = REFUSED_DISABLED, "channel disabled"
        elif ax.kind == "home":
            code, why = REFUSED_HOMING, "homing in progress"
        elif not ax.homed:
            code, why = REFUSED_NOT_HOMED, "axis not homed"
        else:
            return False
        self.refused.append((ax.bay, msgid, why))
        self._answer(
            ap.rich_response(ax.bay, msgid, code, f"{why}: move ignored"),
            ap.HW_RICHRESPONSE,
            ax.bay,
        )
        return True

    def _move_home(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        if not ax.enabled or ax.kind == "home":
            if not ax.enabled:
                self._refuse(ax, f.msgid)
            return
        ax.position = self._position(ax, now)
        ax.homed = False  # a re-home forgets the old reference until it is found again
        ax.kind, ax.t0 = "home", now
        ax.start, ax.target = ax.position, ax.travel[0] + ax.home_offset
        ax.duration = self.scaled(ax.home_time() * self.slow_factor)
        ax.motion_error = ax.hit_limit = False

    def _move_absolute(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        target = ax.move_abs_param if req["counts"] is None else req["counts"]
        self._move_to(ax, f.msgid, target, "absolute", now)

    def _move_relative(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        distance = ax.move_rel_param if req["counts"] is None else req["counts"]
        self._move_to(ax, f.msgid, self._position(ax, now) + distance, "relative", now)

    def _move_jog(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        sign = 1 if req["param2"] == 1 else -1
        if ax.jog["jog_mode"] == JOG_CONTINUOUS:
            self._move_velocity(ax, f, req, now)
            return
        target = self._position(ax, now) + sign * ax.jog["step_size"]
        self._move_to(ax, f.msgid, target, "jog", now)

    def _move_velocity(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        """Run towards the travel end (direction 1 forward, 2 reverse) until a stop."""
        end = ax.travel[1] if req["param2"] == 1 else ax.travel[0]
        self._move_to(ax, f.msgid, end, "velocity", now)

    def _move_to(self, ax: EmuAxis, msgid: int, target: int, kind: str, now: float) -> None:
        self.requested.append(RequestedMove(now, ax.bay, target, kind))
        if ax.soft_limits and not ax.soft_limits[0] <= target <= ax.soft_limits[1]:
            msg = f"bay {ax.bay:#04x}: move to {target} outside soft limits {ax.soft_limits}"
            self.violations.append(msg)
            if self.on_violation:
                self.on_violation(msg)
        if self._refuse(ax, msgid):
            return
        current = self._position(ax, now)
        reach = ax.reachable(target)
        ax.end_stopped = reach != target or kind == "velocity"
        ax.hit_limit = ax.end_stopped and reach in ax.travel
        ax.kind, ax.t0, ax.start, ax.target = "move", now, current, reach
        ax.duration = self.scaled(ax.profile_time(reach - current) * self.slow_factor)
        ax.stall_at = None
        if ax.stall_next:
            ax.stall_next = False
            ax.stall_at = now + ax.duration / 2

    def _move_stop(self, ax: EmuAxis, f: ap.Frame, req: dict[str, Any], now: float) -> None:
        self._end(ax, now, stopped=True)

    def _end(self, ax: EmuAxis, now: float, *, stopped: bool) -> None:
        """Finish or stop the current motion and send its end-of-move message."""
        if not stopped:
            ax.position = ax.target
        elif ax.kind == "home" and ax.duration > 0:  # along its run back to the switch
            frac = min(1.0, (now - ax.t0) / ax.duration)
            ax.position = round(ax.start + (ax.target - ax.start) * frac)
        else:
            ax.position = self._position(ax, now)
        kind, ax.kind = ax.kind, ""
        ax.hit_limit = ax.hit_limit and ax.position in ax.travel  # stopped short of the switch
        ax.settled_at = now + self.scaled(ax.settle_s)
        if kind == "home" and not stopped:
            ax.homed = True
            self._answer(ap.move_homed(ax.bay), ap.MOT_MOVE_HOMED, ax.bay)
            return
        msgid = ap.MOT_MOVE_STOPPED if stopped or ax.end_stopped else ap.MOT_MOVE_COMPLETED
        ax.end_stopped = False
        self._answer(ap.status_message(msgid, ax.bay, self._status(ax, now)), msgid, ax.bay)

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
                self._end(ax, now, stopped=False)
        if self.updates and now >= self._next_update:
            self._next_update = now + 0.1
            for ax in self.axes.values():
                if ax.updates:
                    self.send(
                        ap.status_message(ap.MOT_GET_DCSTATUSUPDATE, ax.bay, self._status(ax, now))
                    )

    # ------------------------------------------------------------------ helpers for tests
    def frames_of(self, msgid: int) -> list[ap.Frame]:
        with self.lock:
            return [f for _, f in self.frames if f.msgid == msgid]


#: REQ id -> (GET id, layout, values of an axis) for the parameter blocks
PARAM_REPLIES: dict[int, Callable[[EmuAxis], tuple[int, str, tuple[int, ...]]]] = {
    ap.MOT_REQ_HOMEPARAMS: lambda ax: (
        ap.MOT_GET_HOMEPARAMS,
        "<3Hll",
        (ax.home_dir, ax.home_limit_switch, ax.home_velocity, ax.home_offset),
    ),
    ap.MOT_REQ_LIMSWITCHPARAMS: lambda ax: (
        ap.MOT_GET_LIMSWITCHPARAMS,
        "<3HLLH",
        (
            ax.limswitch["cw_hard"],
            ax.limswitch["ccw_hard"],
            ax.limswitch["cw_soft"],
            ax.limswitch["ccw_soft"],
            ax.limswitch["soft_mode"],
        ),
    ),
    ap.MOT_REQ_JOGPARAMS: lambda ax: (
        ap.MOT_GET_JOGPARAMS,
        "<HH4lH",
        (
            ax.jog["jog_mode"],
            ax.jog["step_size"],
            ax.jog["min_velocity"],
            ax.jog["acceleration"],
            ax.jog["max_velocity"],
            ax.jog["stop_mode"],
        ),
    ),
    ap.MOT_REQ_GENMOVEPARAMS: lambda ax: (ap.MOT_GET_GENMOVEPARAMS, "<Hl", (ax.backlash,)),
    ap.MOT_REQ_MOVEABSPARAMS: lambda ax: (ap.MOT_GET_MOVEABSPARAMS, "<Hl", (ax.move_abs_param,)),
    ap.MOT_REQ_MOVERELPARAMS: lambda ax: (ap.MOT_GET_MOVERELPARAMS, "<Hl", (ax.move_rel_param,)),
}
