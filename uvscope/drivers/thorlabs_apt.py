"""Thorlabs APT controllers (BBD rack with an MLS203 XY stage and a focus bay) over pyserial.

One ``AptController`` owns a serial port and is shared by the axes on it. Every write and the
reads that answer it happen under one lock, and the keep-alive thread (MOT_ACK_DCSTATUSUPDATE,
needed at least once a second over USB) takes the same lock, so its bytes never fall inside an
exchange. A move is started, then waited for: MOVE_COMPLETED (or MOVE_STOPPED) with its status
block ends it, status polling covers a lost message or a stalled axis. Positions are checked
against the soft limits by the base classes and once more where the counts are packed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from uvscope.config import FocusConfig, StageConfig
from uvscope.drivers import apt_protocol as ap
from uvscope.drivers.base import DeviceInfo, FocusAxis, XYStage
from uvscope.drivers.serial_link import LinkLost, SerialFactory, SerialLink, holders_hint
from uvscope.errors import (
    ConfigError,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceTimeout,
    LimitError,
    MotionError,
)


class NotHomedError(DeviceError):
    """A move was asked of an axis the controller reports as not homed."""


log = logging.getLogger(__name__)


def move_time_s(distance: float, velocity: float, acceleration: float) -> float:
    """Duration of a trapezoidal move (any consistent units)."""
    d = abs(distance)
    if d <= velocity * velocity / acceleration:
        return 2.0 * math.sqrt(d / acceleration)
    return d / velocity + velocity / acceleration


class AptController:
    """One APT serial connection (a BBD rack at 0x11 or a single unit at 0x50)."""

    def __init__(
        self,
        port: str,
        *,
        reply_timeout_s: float = 0.5,
        retries: int = 2,
        keepalive_s: float = 0.5,
        serial_factory: SerialFactory | None = None,
    ) -> None:
        self.port = port
        self.reply_timeout_s = reply_timeout_s
        self.retries = retries
        self.keepalive_s = keepalive_s
        self.link = SerialLink(
            port, rtscts=True, apt_open_sequence=True, serial_factory=serial_factory
        )
        self.reader = ap.FrameReader()
        self.bays: set[int] = set()
        self.identity: dict[str, object] = {}
        self.keepalive_error: BaseException | None = None
        self._inbox: deque[ap.Frame] = deque()
        self._events: dict[int, deque[tuple[int, ap.Frame]]] = {}
        self._seq = 0
        self._users = 0
        self._ka_stop = threading.Event()
        self._ka_thread: threading.Thread | None = None

    @property
    def address(self) -> int:
        """Where controller-wide messages go: the rack, or the unit itself."""
        return ap.RACK if any(b in ap.BAYS for b in self.bays) or not self.bays else min(self.bays)

    # ------------------------------------------------------------------ lifecycle
    def acquire(self, bay: int) -> None:
        """Open the port for the first axis that needs it; later axes share it."""
        self.bays.add(bay)
        self._users += 1
        if self._users > 1:
            return
        try:
            self.link.open()
            self.send(ap.no_flash_programming(self.address))
            # a program before us (thorlabs-apt-device, Kinesis) may have left the controller
            # streaming status at 10 Hz; this driver asks for what it needs, so silence it
            # (each bay is asked too as it connects: a rack's reach is unverified)
            self.send(ap.stop_update_messages(self.address))
            frame = self.request(
                ap.req_info(self.address), ap.HW_GET_INFO, self.address, "identify (HW_REQ_INFO)"
            )
            info = frame.parsed()
            fw = info["firmware_version"]
            self.identity = {
                "model": info["model_number"].rstrip(b"\x00").decode("ascii", "replace"),
                "serial": str(info["serial_number"]),
                "firmware": ".".join(str(v) for v in fw[:3]),
                "channels": info["nchs"],
            }
        except DeviceTimeout as err:
            self._users = 0
            self.link.close()
            raise DeviceNotFound(
                f"no APT controller answers on {self.port} ({err}); check that the port is the "
                "controller's, that it is switched on and that no other program (Kinesis, a "
                f"script) still has it open{holders_hint(self.port)}"
            ) from None
        except BaseException:
            self._users = 0
            self.link.close()
            raise
        self._ka_stop.clear()
        self._ka_thread = threading.Thread(
            target=self._keepalive, name=f"apt-keepalive-{self.port}", daemon=True
        )
        self._ka_thread.start()

    def release(self) -> None:
        if self._users == 0:
            return
        self._users -= 1
        if self._users:
            return
        self._ka_stop.set()
        if self._ka_thread is not None:
            self._ka_thread.join(timeout=2.0)
            self._ka_thread = None
        with self.link.lock:
            self.link.close()

    @property
    def is_open(self) -> bool:
        return self.link.is_open

    def _keepalive(self) -> None:
        while not self._ka_stop.wait(self.keepalive_s):
            try:
                with self.link.lock:  # never between a request and its reply
                    for bay in sorted(self.bays):
                        self.link.write(ap.ack_status(bay))
            except LinkLost as err:  # the next command reopens the port or reports it
                self.keepalive_error = err

    # ------------------------------------------------------------------ exchanges
    def _reopen(self) -> None:
        self.link.reopen()  # DeviceDisconnected if the port does not come back
        self.reader.clear()
        self._inbox.clear()
        self.link.write(ap.no_flash_programming(self.address))

    def send(self, data: bytes) -> None:
        """A message with no reply; a lost port is reopened once."""
        with self.link.lock:
            try:
                self.link.write(data)
            except LinkLost:
                self._reopen()
                self.link.write(data)

    def _next_frame(self, deadline: float) -> ap.Frame | None:
        while not self._inbox:
            if time.monotonic() >= deadline:
                return None
            for frame in self.reader.feed(self.link.read_some()):
                self._dispatch(frame)
                self._inbox.append(frame)
        return self._inbox.popleft()

    def _dispatch(self, frame: ap.Frame) -> None:
        if frame.msgid in ap.END_OF_MOVE or frame.msgid == ap.HW_RICHRESPONSE:
            self._seq += 1
            self._events.setdefault(frame.source, deque(maxlen=32)).append((self._seq, frame))

    @property
    def seq(self) -> int:
        with self.link.lock:
            return self._seq

    def request(
        self, data: bytes, reply_id: int, source: int, what: str, retries: int | None = None
    ) -> ap.Frame:
        """Send ``data`` and return the reply ``reply_id`` from ``source``; a lost or garbled
        reply is asked again ``retries`` times (default: the controller's), a lost port
        reopened once."""
        retries = self.retries if retries is None else retries
        problems: list[str] = []
        reopened = False
        attempt = 0
        with self.link.lock:
            while attempt <= retries:
                garbage0 = self.reader.garbage
                try:
                    self.link.write(data)
                    deadline = time.monotonic() + self.reply_timeout_s
                    while (frame := self._next_frame(deadline)) is not None:
                        if frame.msgid == reply_id and frame.source == source:
                            return frame
                except LinkLost:
                    if reopened:
                        raise DeviceDisconnected(
                            f"APT controller on {self.port} dropped the connection twice "
                            f"during {what}; check the USB cable"
                        ) from None
                    self._reopen()
                    reopened = True
                    continue
                attempt += 1
                problems.append("garbled reply" if self.reader.garbage > garbage0 else "no reply")
        if all(p == "no reply" for p in problems):
            raise DeviceTimeout(
                f"APT controller on {self.port} (address {source:#04x}) did not answer {what} "
                f"({len(problems)} tries of {self.reply_timeout_s:.2f} s)"
            )
        raise DeviceError(f"APT controller on {self.port}: {what} failed: {'; '.join(problems)}")

    def wait_event(
        self, bay: int, after_seq: int, msgids: frozenset[int] | set[int], timeout_s: float
    ) -> ap.Frame | None:
        """The first end-of-move message of ``bay`` newer than ``after_seq``, or None.

        Reads in short slices and lets go of the lock in between, so the keep-alive and
        other axes' commands get their turn during a long move.
        """
        deadline = time.monotonic() + timeout_s
        reopened = False
        while True:
            with self.link.lock:
                for seq, frame in self._events.get(bay, ()):
                    if seq > after_seq and frame.msgid in msgids:
                        return frame
                if time.monotonic() >= deadline:
                    return None
                try:
                    slice_end = min(deadline, time.monotonic() + 0.02)
                    while self._next_frame(slice_end) is not None:
                        pass
                except LinkLost:
                    if reopened:
                        raise DeviceDisconnected(
                            f"APT controller on {self.port} dropped the connection twice"
                        ) from None
                    self._reopen()
                    reopened = True
            time.sleep(0.001)  # let a waiting thread take the lock


@dataclass
class _Move:
    seq: int
    target: int
    expected_s: float
    reopens: int  # the link's reopen count when the move was sent
    resent: bool = False


class AptAxis:
    """One channel (a bay of the rack) in user units (mm or um) with count scaling."""

    def __init__(
        self,
        controller: AptController,
        bay: int,
        *,
        name: str,
        unit: str,
        counts_per_unit: float,
        limits: tuple[float, float],
        velocity: float,
        acceleration: float,
        velocity_scale: float,
        accel_scale: float,
        timing_scale: float = 1.0,
    ) -> None:
        self.ctrl = controller
        self.bay = bay
        self.name = name
        self.unit = unit
        self.counts_per_unit = counts_per_unit
        self.limits_counts = (
            round(limits[0] * counts_per_unit),
            round(limits[1] * counts_per_unit),
        )
        self.velocity = velocity
        self.acceleration = acceleration
        self.velocity_scale = velocity_scale
        self.accel_scale = accel_scale
        self.timing_scale = timing_scale
        self.homed = False
        #: home velocity in units/s as the controller has it (MOT_GET_HOMEPARAMS)
        self.home_velocity: float | None = None
        #: (min, max) counts of the stage's travel as its controller reports it, if it does
        self.travel_counts: tuple[int, int] | None = None
        self._move: _Move | None = None
        self._position = 0

    def to_counts(self, value: float) -> int:
        counts = value * self.counts_per_unit
        if not math.isfinite(counts):
            raise LimitError(f"{self.name}: {value!r} {self.unit} is not a position; nothing moved")
        return round(counts)

    # ------------------------------------------------------------------ commands
    def connect(self) -> None:
        """Take over the channel in whatever state another program left it: update
        messages stopped, the channel enabled, a move or homing run it did not start stopped
        (its end could not be told from ours, and its target may lie past our soft limits)."""
        self.ctrl.send(ap.stop_update_messages(self.bay))
        self.ctrl.send(ap.enable_channel(self.bay))
        st = self.status()
        if st.moving or st.homing:
            what = "homing" if st.homing else "moving"
            log.warning("%s axis (bay %#04x) was %s at connect: stopped", self.name, self.bay, what)
            self.stop(immediate=False)
            st = self.status()
        self.homed = st.homed
        if not st.enabled:
            raise DeviceError(
                f"{self.name} channel (bay {self.bay:#04x}) stays disabled after "
                "MOD_SET_CHANENABLESTATE; check the motor cable and the controller's front panel"
            )
        self.set_velocity(self.velocity, self.acceleration)
        self.home_velocity = self.homeparams()["home_velocity"]
        self._limits_on_controller()

    def _limits_on_controller(self) -> None:
        """Check the soft limits against the travel the controller reports, then program
        them into the controller too (MOT_SET_LIMSWITCHPARAMS, hard-limit settings kept), so
        a move from any other program stops there as well."""
        self.travel_counts = self.travel()
        lo, hi = self.limits_counts
        if self.travel_counts is not None:
            t0, t1 = self.travel_counts
            if lo < t0 or hi > t1:
                c = self.counts_per_unit
                raise ConfigError(
                    f"{self.name} soft limits [{lo / c:g}, {hi / c:g}] {self.unit} reach beyond "
                    f"the stage's travel [{t0 / c:g}, {t1 / c:g}] {self.unit} (as its controller "
                    "reports it); narrow them in the rig file"
                )
        if lo < 0:
            return  # the controller's soft limits are unsigned: the host's check alone holds
        current = self.ctrl.request(
            ap.req_limswitchparams(self.bay),
            ap.MOT_GET_LIMSWITCHPARAMS,
            self.bay,
            f"{self.name} limit switch parameters",
        ).parsed()
        self.ctrl.send(
            ap.set_soft_limits(
                self.bay,
                (lo, hi),
                hard_cw=current["cw_hardlimit"],
                hard_ccw=current["ccw_hardlimit"],
            )
        )

    def travel(self) -> tuple[int, int] | None:
        """(min, max) position counts from MOT_GET_STAGEAXISPARAMS; None where the controller
        does not answer it (asked once: older firmware stays silent)."""
        try:
            p = self.ctrl.request(
                ap.req_stageaxisparams(self.bay),
                ap.MOT_GET_STAGEAXISPARAMS,
                self.bay,
                f"{self.name} stage axis parameters",
                retries=0,
            )
        except DeviceTimeout:
            return None
        info = p.parsed()
        if info["max_pos"] <= info["min_pos"]:
            return None
        return info["min_pos"], info["max_pos"]

    def homeparams(self) -> dict[str, float]:
        """Home direction, limit switch, velocity (units/s) and offset (units)."""
        p = self.ctrl.request(
            ap.req_homeparams(self.bay),
            ap.MOT_GET_HOMEPARAMS,
            self.bay,
            f"{self.name} home parameters (MOT_REQ_HOMEPARAMS)",
        ).parsed()
        return {
            "home_dir": p["home_dir"],
            "limit_switch": p["limit_switch"],
            "home_velocity": p["home_velocity"] / self.velocity_scale,
            "offset": p["offset_distance"] / self.counts_per_unit,
        }

    def home_timeout_s(self) -> float:
        """Twice the run back over the whole soft-limit span at the home velocity, plus 5 s
        for the index search (a real homing, not the timing scale, sets this)."""
        span = abs(self.limits_counts[1] - self.limits_counts[0]) / self.counts_per_unit
        v = self.home_velocity or self.velocity
        return 5.0 + 2.0 * span / max(v, 1e-9)

    def status(self) -> ap.AxisStatus:
        frame = self.ctrl.request(
            ap.req_status(self.bay),
            ap.MOT_GET_DCSTATUSUPDATE,
            self.bay,
            f"{self.name} status (MOT_REQ_DCSTATUSUPDATE)",
        )
        st = ap.AxisStatus.from_bytes(frame.data)
        self._position = st.position
        return st

    def position(self) -> float:
        return self.status().position / self.counts_per_unit

    def set_velocity(self, velocity: float, acceleration: float) -> None:
        self.velocity, self.acceleration = velocity, acceleration
        self.ctrl.send(
            ap.set_velparams(
                self.bay,
                round(acceleration * self.accel_scale),
                round(velocity * self.velocity_scale),
            )
        )

    def velparams(self) -> tuple[float, float]:
        """(max velocity, acceleration) in units/s and units/s^2 as the controller has them."""
        p = self.ctrl.request(
            ap.req_velparams(self.bay),
            ap.MOT_GET_VELPARAMS,
            self.bay,
            f"{self.name} velocity parameters",
        ).parsed()
        return p["max_velocity"] / self.velocity_scale, p["acceleration"] / self.accel_scale

    def start_home(self) -> int:
        seq = self.ctrl.seq
        self.ctrl.send(ap.move_home(self.bay))
        return seq

    def wait_home(self, seq: int, timeout_s: float) -> None:
        """MOVE_HOMED ends it; every 0.5 s the status is asked too, so a lost MOVE_HOMED
        (or a controller that sends none) still ends the wait once the HOMED bit is set."""
        self.homed = False
        deadline = time.monotonic() + timeout_s
        ends = {ap.MOT_MOVE_HOMED, ap.MOT_MOVE_STOPPED, ap.HW_RICHRESPONSE}
        while True:
            slice_s = max(0.0, min(0.5, deadline - time.monotonic()))
            frame = self.ctrl.wait_event(self.bay, seq, ends, slice_s)
            if frame is not None and frame.msgid != ap.MOT_MOVE_HOMED:
                raise MotionError(f"{self.name} axis did not home: {self._refusal(frame)}")
            st = self.status() if frame is None else None
            if frame is not None or (st is not None and st.homed and not st.homing):
                self.homed = True
                return
            if st is not None and st.motion_error:
                self.check_status(st)
            if time.monotonic() >= deadline:
                raise DeviceTimeout(
                    f"{self.name} axis did not finish homing in {timeout_s:.0f} s; check that "
                    "nothing blocks the stage, then home again"
                )

    def _refusal(self, frame: ap.Frame) -> str:
        if frame.msgid == ap.MOT_MOVE_STOPPED:
            return "the controller stopped the homing move (MOVE_STOPPED)"
        notes = frame.parsed()["notes"].rstrip(b"\0").decode("ascii", "replace")
        return f"the controller refused it ({notes})"

    def start_move(self, target: int) -> None:
        """Start an absolute move to ``target`` counts (checked again as it is packed)."""
        if not self.homed:
            raise NotHomedError(
                f"{self.name} axis is not homed; home the stage first (or set home_on_connect)"
            )
        try:
            data = ap.move_absolute(self.bay, target, self.limits_counts)
        except ValueError as err:
            raise LimitError(f"{self.name}: {err}; nothing was moved") from None
        distance = (target - self._position) / self.counts_per_unit
        expected = move_time_s(distance, self.velocity, self.acceleration)
        self._send_move(data, target, expected)

    def _send_move(self, data: bytes, target: int, expected: float, resent: bool = False) -> None:
        with self.ctrl.link.lock:
            seq = self.ctrl.seq
            reopens = self.ctrl.link.reopen_count
            self.ctrl.send(data)
        self._move = _Move(seq, target, expected, reopens, resent)

    def start_move_relative(self, distance: int) -> None:
        """Start a relative move; its end point is checked against the soft limits."""
        if not self.homed:
            raise NotHomedError(f"{self.name} axis is not homed; home the stage first")
        start = self.status().position
        try:
            data = ap.move_relative(self.bay, distance, start, self.limits_counts)
        except ValueError as err:
            raise LimitError(f"{self.name}: {err}; nothing was moved") from None
        expected = move_time_s(distance / self.counts_per_unit, self.velocity, self.acceleration)
        self._send_move(data, start + distance, expected)

    def wait_move(self) -> None:
        move, self._move = self._move, None
        if move is None:
            return
        expected = move.expected_s * self.timing_scale
        st, stopped = self._end_of_move(move, expected)
        self._position = st.position
        self.check_status(st)
        off_target = abs(st.position - move.target) > 2
        if (
            off_target
            and not stopped
            and not move.resent
            and (self.ctrl.link.reopen_count != move.reopens)
        ):
            # the port dropped while the move was sent: the command may be lost, send it again
            data = ap.move_absolute(self.bay, move.target, self.limits_counts)
            self._send_move(data, move.target, move.expected_s, resent=True)
            self.wait_move()
            return
        if stopped or off_target:
            raise MotionError(
                f"{self.name} axis stopped at {st.position / self.counts_per_unit:.4f} "
                f"{self.unit}, not at {move.target / self.counts_per_unit:.4f} {self.unit}"
            )
        settle_deadline = time.monotonic() + 0.2 + 10 * expected
        while not (st.settled or st.velocity == 0):
            if time.monotonic() > settle_deadline:
                raise DeviceTimeout(f"{self.name} axis did not settle at its target")
            time.sleep(0.005)
            st = self.status()
            self.check_status(st)

    def _end_of_move(self, move: _Move, expected: float) -> tuple[ap.AxisStatus, bool]:
        """The status at the end of ``move`` and whether the controller stopped it short.

        MOVE_COMPLETED / MOVE_STOPPED end it; without one (lost, or the axis stalled) the
        status is polled; HW_RICHRESPONSE (the controller refused the move) raises.
        """
        ends = {ap.MOT_MOVE_COMPLETED, ap.MOT_MOVE_STOPPED, ap.HW_RICHRESPONSE}
        deadline = time.monotonic() + 0.5 + 3.0 * expected
        frame = self.ctrl.wait_event(self.bay, move.seq, ends, 0.2 + 1.5 * expected)
        while frame is None:
            st = self.status()
            if not st.moving or st.motion_error:
                return st, False
            if time.monotonic() > deadline:
                try:
                    self.stop(immediate=False)
                    stopped_note = "stopped it"
                except DeviceError as err:
                    stopped_note = f"and the stop failed too: {err}"
                raise DeviceTimeout(
                    f"{self.name} axis still moving after {3 * expected + 0.5:.1f} s "
                    f"(expected {expected:.2f} s); {stopped_note}"
                )
            frame = self.ctrl.wait_event(self.bay, move.seq, ends, 0.05)
        if frame.msgid == ap.HW_RICHRESPONSE:
            raise MotionError(f"{self.name} axis did not move: {self._refusal(frame)}")
        return ap.AxisStatus.from_bytes(frame.data), frame.msgid == ap.MOT_MOVE_STOPPED

    def check_status(self, st: ap.AxisStatus) -> None:
        where = f"at {st.position / self.counts_per_unit:.4f} {self.unit}"
        if st.motion_error:
            self.homed = False
            raise MotionError(
                f"{self.name} axis reported a motion error {where} (stall or following error); "
                "clear the obstruction, then home the stage"
            )
        if st.limit_switch:
            raise MotionError(
                f"{self.name} axis hit a limit switch {where}; the soft limits in the rig config "
                "are wider than the travel"
            )

    def stop(self, immediate: bool = False, timeout_s: float = 2.0) -> None:
        seq = self.ctrl.seq
        self.ctrl.send(ap.move_stop(self.bay, immediate))
        if self.ctrl.wait_event(self.bay, seq, {ap.MOT_MOVE_STOPPED}, timeout_s) is None:
            raise DeviceTimeout(f"{self.name} axis did not confirm the stop (MOVE_STOPPED)")


def controller_for(
    port: str | None,
    what: str,
    *,
    reply_timeout_s: float = 0.5,
    retries: int = 2,
    keepalive_s: float = 0.5,
    serial_factory: SerialFactory | None = None,
) -> AptController:
    if not port:
        raise ConfigError(f"{what}.port is not set; give the APT controller's serial port")
    return AptController(
        port,
        reply_timeout_s=reply_timeout_s,
        retries=retries,
        keepalive_s=keepalive_s,
        serial_factory=serial_factory,
    )


class AptXYStage(XYStage):
    """MLS203 X and Y on two bays of a BBD rack, positions in mm."""

    def __init__(
        self,
        config: StageConfig,
        *,
        controller: AptController | None = None,
        serial_factory: SerialFactory | None = None,
        timing_scale: float = 1.0,
    ) -> None:
        super().__init__(config.x_limits_mm, config.y_limits_mm)
        self.config = config
        self.timing_scale = timing_scale
        self.ctrl = controller or controller_for(
            config.port,
            "stage",
            reply_timeout_s=config.reply_timeout_s,
            retries=config.retries,
            keepalive_s=config.keepalive_s,
            serial_factory=serial_factory,
        )
        self.x = self._axis(config.x_bay, "stage x", config.x_limits_mm)
        self.y = self._axis(config.y_bay, "stage y", config.y_limits_mm)
        self._connected = False

    def _axis(self, bay: int, name: str, limits_mm: tuple[float, float]) -> AptAxis:
        """One of the two stage axes; both share the stage's units and motion settings."""
        cfg = self.config
        return AptAxis(
            self.ctrl,
            bay,
            name=name,
            unit="mm",
            counts_per_unit=cfg.counts_per_mm,
            limits=limits_mm,
            velocity=cfg.velocity_mm_s,
            acceleration=cfg.acceleration_mm_s2,
            velocity_scale=cfg.velocity_units_per_mm_s,
            accel_scale=cfg.accel_units_per_mm_s2,
            timing_scale=self.timing_scale,
        )

    @property
    def axes(self) -> tuple[AptAxis, AptAxis]:
        return (self.x, self.y)

    def _do_connect(self) -> None:
        if self._connected:
            return
        self.ctrl.acquire(self.x.bay)
        try:
            self.ctrl.acquire(self.y.bay)
        except BaseException:
            self.ctrl.release()
            raise
        self._connected = True
        try:
            for ax in self.axes:
                ax.connect()
            if self.config.home_on_connect and not all(ax.homed for ax in self.axes):
                self._do_home()
        except BaseException:
            self._do_close()
            raise

    def _do_close(self) -> None:
        if self._connected:
            self._connected = False
            self.ctrl.release()
            self.ctrl.release()

    def _do_info(self) -> DeviceInfo:
        ident = self.ctrl.identity
        return DeviceInfo(
            kind=self.kind,
            model=f"{ident.get('model', 'APT')} + MLS203",
            serial=str(ident.get("serial", "")),
            firmware=str(ident.get("firmware", "")),
            extra={
                "port": self.ctrl.port,
                "bays": (hex(self.x.bay), hex(self.y.bay)),
                "homed": all(ax.homed for ax in self.axes),
            },
        )

    def _do_start_move(self, x_mm: float, y_mm: float) -> None:
        targets = (self.x.to_counts(x_mm), self.y.to_counts(y_mm))
        for ax, counts in zip(self.axes, targets, strict=True):
            ax.start_move(counts)

    def move_by_mm(self, dx_mm: float, dy_mm: float) -> None:
        """A relative move (MOT_MOVE_RELATIVE) whose end point is inside the soft limits."""
        x, y = self.position_mm()
        self.check_limits(x + dx_mm, y + dy_mm)
        for ax, d in zip(self.axes, (dx_mm, dy_mm), strict=True):
            ax.start_move_relative(ax.to_counts(d))
        self.wait()

    def _do_wait(self) -> None:
        errors: list[BaseException] = []
        for ax in self.axes:
            try:
                ax.wait_move()
            except DeviceError as err:
                errors.append(err)
        if errors:
            raise errors[0]
        time.sleep(self.config.settle_ms / 1000.0 * self.timing_scale)

    def _do_get_position(self) -> tuple[float, float]:
        return self.x.position(), self.y.position()

    requires_homing = True

    def _do_home(self) -> None:
        seqs = [ax.start_home() for ax in self.axes]
        for ax, seq in zip(self.axes, seqs, strict=True):
            ax.wait_home(seq, ax.home_timeout_s())

    def _do_home_axis(self, axis: str) -> None:
        ax = self.x if axis == "x" else self.y
        ax.wait_home(ax.start_home(), ax.home_timeout_s())

    def _do_is_homed(self) -> bool:
        return all(self.homed_axes().values())

    def homed_axes(self) -> dict[str, bool | None]:
        for ax in self.axes:
            ax.homed = ax.status().homed  # the controller's word, not our memory of it
        return {"x": self.x.homed, "y": self.y.homed}

    @property
    def homed(self) -> bool:
        return all(ax.homed for ax in self.axes)

    def _do_stop(self) -> None:
        for ax in self.axes:
            ax.stop(immediate=False)


class AptFocus(FocusAxis):
    """The focus axis in um: a third bay of the rack, or its own APT unit."""

    def __init__(
        self,
        config: FocusConfig,
        *,
        controller: AptController | None = None,
        serial_factory: SerialFactory | None = None,
        timing_scale: float = 1.0,
    ) -> None:
        super().__init__(config.limits_um)
        self.config = config
        self.timing_scale = timing_scale
        self.ctrl = controller or controller_for(
            config.port, "focus", serial_factory=serial_factory
        )
        self.axis = AptAxis(
            self.ctrl,
            config.bay,
            name="focus",
            unit="um",
            counts_per_unit=config.counts_per_um,
            limits=config.limits_um,
            velocity=config.velocity_um_s,
            acceleration=config.acceleration_um_s2,
            velocity_scale=config.velocity_units_per_um_s,
            accel_scale=config.accel_units_per_um_s2,
            timing_scale=timing_scale,
        )
        self._connected = False

    def _do_connect(self) -> None:
        if self._connected:
            return
        self.ctrl.acquire(self.axis.bay)
        self._connected = True
        try:
            self.axis.connect()
            if self.config.home_on_connect and not self.axis.homed:
                self._do_home()
        except BaseException:
            self._do_close()
            raise

    def _do_close(self) -> None:
        if self._connected:
            self._connected = False
            self.ctrl.release()

    def _do_info(self) -> DeviceInfo:
        ident = self.ctrl.identity
        return DeviceInfo(
            kind=self.kind,
            model=str(ident.get("model", "APT")),
            serial=str(ident.get("serial", "")),
            firmware=str(ident.get("firmware", "")),
            extra={"port": self.ctrl.port, "bay": hex(self.axis.bay), "homed": self.axis.homed},
        )

    def _do_start_move(self, z_um: float) -> None:
        self.axis.start_move(self.axis.to_counts(z_um))

    def move_by_um(self, dz_um: float) -> None:
        z = self.position_um()
        self.check_limits(z + dz_um)
        self.axis.start_move_relative(self.axis.to_counts(dz_um))
        self.wait()

    def _do_wait(self) -> None:
        self.axis.wait_move()
        time.sleep(self.config.settle_ms / 1000.0 * self.timing_scale)

    def _do_get_position(self) -> float:
        return self.axis.position()

    requires_homing = True

    def _do_home(self) -> None:
        self.axis.wait_home(self.axis.start_home(), self.axis.home_timeout_s())

    def _do_is_homed(self) -> bool:
        self.axis.homed = self.axis.status().homed
        return self.axis.homed

    @property
    def homed(self) -> bool:
        return self.axis.homed

    def _do_stop(self) -> None:
        self.axis.stop(immediate=False)


def build_apt_devices(
    stage: StageConfig | None,
    focus: FocusConfig | None,
    *,
    serial_factory: SerialFactory | None = None,
    timing_scale: float = 1.0,
) -> tuple[AptXYStage | None, AptFocus | None]:
    """Stage and focus drivers; a focus bay on the stage's port shares its controller."""
    xy = None
    if stage is not None:
        xy = AptXYStage(stage, serial_factory=serial_factory, timing_scale=timing_scale)
    z = None
    if focus is not None:
        shared = xy.ctrl if xy is not None and focus.port == xy.ctrl.port else None
        if shared is not None and focus.bay in (stage.x_bay, stage.y_bay):  # type: ignore[union-attr]
            raise ConfigError(f"focus.bay {focus.bay:#04x} is already the stage's x or y bay")
        z = AptFocus(
            focus, controller=shared, serial_factory=serial_factory, timing_scale=timing_scale
        )
    return xy, z


__all__ = [
    "AptController",
    "AptAxis",
    "AptXYStage",
    "AptFocus",
    "NotHomedError",
    "build_apt_devices",
    "move_time_s",
]
