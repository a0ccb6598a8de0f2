"""Thorlabs FW102C / FW212C filter wheel over its ASCII serial protocol.

Every exchange is: send ``cmd\\r``, read the echo, the reply (queries only) and the ``> ``
prompt. ``pos=n`` returns its prompt only once the wheel is in position, so a move is
confirmed by that prompt and then by ``pos?``. The wheel answers the first command after
power-on with an error, so ``connect`` sends a harmless ``*idn?`` first and tolerates one error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from uvscope.config import FilterWheelConfig
from uvscope.drivers.base import DeviceInfo, FilterWheel
from uvscope.drivers.serial_link import LinkLost, SerialFactory, SerialLink, holders_hint
from uvscope.errors import ConfigError, DeviceDisconnected, DeviceError, DeviceTimeout

PROMPT = b"> "


class FilterWheelError(DeviceError):
    """The wheel answered a command with an error string."""


class CommandNotDefined(FilterWheelError):
    """``CMD_NOT_DEFINED``: the wheel does not know the command."""


class ArgumentInvalid(FilterWheelError):
    """``CMD_ARG_INVALID``: the wheel refused the command's argument."""


class _Garbled(Exception):
    """A reply that does not parse; the exchange is repeated."""


def error_for(cmd: str, reply: str) -> FilterWheelError | None:
    """The exception a reply stands for, or None if it is not an error (pyLabLib's rule)."""
    if "CMD_" not in reply and "error" not in reply.lower():
        return None
    cls = (
        CommandNotDefined
        if "CMD_NOT_DEFINED" in reply
        else ArgumentInvalid
        if "CMD_ARG_INVALID" in reply
        else FilterWheelError
    )
    return cls(f"filter wheel refused {cmd!r}: {reply.strip()}")


def parse_reply(cmd: str, raw: bytes) -> str:
    """The reply text of one exchange (echo and prompt removed); _Garbled if it is not one."""
    if not raw.endswith(PROMPT):
        raise _Garbled(raw)
    text = raw[: -len(PROMPT)].decode("ascii", "replace")
    parts = [p.strip() for p in re.split(r"[\r\n]+", text) if p.strip()]
    if not parts or parts[0] != cmd:
        raise _Garbled(raw)
    return "\n".join(parts[1:])


@dataclass
class _PendingMove:
    slot: int
    timeout_s: float
    started: float


class ThorlabsFilterWheel(FilterWheel):
    """FW102C (6 positions) or FW212C (12 positions) on ``config.port``."""

    def __init__(
        self,
        config: FilterWheelConfig,
        *,
        serial_factory: SerialFactory | None = None,
        timing_scale: float = 1.0,
    ) -> None:
        if not config.port:
            raise ConfigError(
                "filter_wheel.port is not set; give the wheel's serial port, e.g. /dev/ttyUSB0"
            )
        super().__init__(
            {int(k): v for k, v in config.slots.items()}, config.positions, config.dark_slot
        )
        self.config = config
        self.timing_scale = timing_scale
        self.retries = config.retries
        self.reply_timeout_s = config.reply_timeout_s
        self.link = SerialLink(config.port, baudrate=config.baudrate, serial_factory=serial_factory)
        self._pending: _PendingMove | None = None
        self._slot: int | None = None
        self.idn = ""
        self._rx = b""  # bytes read past the last prompt

    # ------------------------------------------------------------------ lifecycle
    def _do_connect(self) -> None:
        if self.link.is_open:
            return
        self.link.open()
        try:
            with self.link.lock:
                self.idn = self._first_contact()
                pcount = self.query_int("pcount?")
                if pcount != self.position_count:
                    raise ConfigError(
                        f"filter wheel on {self.config.port} has {pcount} positions but "
                        f"filter_wheel.position_count is {self.position_count}; fix the rig config"
                    )
                self.command(f"speed={int(self.config.high_speed)}")
                self.command(f"sensors={int(not self.config.sensors_off_when_idle)}")
                self.command(f"trig={int(self.config.trigger_output)}")
                self._slot = self.query_int("pos?")
        except BaseException:
            self.link.close()
            raise

    def _do_close(self) -> None:
        self._pending = None
        self.link.close()

    def _do_info(self) -> DeviceInfo:
        version = self.idn.rsplit("version", 1)[-1].strip() if "version" in self.idn else ""
        return DeviceInfo(
            kind=self.kind,
            model=self.idn or "Thorlabs FW102C/FW212C",
            firmware=version,
            extra={"port": self.config.port, "positions": self.position_count, "slot": self._slot},
        )

    # ------------------------------------------------------------------ exchanges
    def query(self, cmd: str) -> str:
        """Send a query and return its reply text."""
        with self.link.lock:
            self._finish_pending()
            return self._exchange(cmd, self.reply_timeout_s, _nonempty)

    def query_int(self, cmd: str) -> int:
        with self.link.lock:
            self._finish_pending()
            return int(self._exchange(cmd, self.reply_timeout_s, _integer))

    def command(self, cmd: str) -> None:
        """Send a setting and wait for its prompt."""
        with self.link.lock:
            self._finish_pending()
            self._exchange(cmd, self.reply_timeout_s, None)

    def _first_contact(self) -> str:
        """``*idn?`` on a wheel in whatever state it was left: the first command after
        power-on draws an error, and a wheel still turning a move another program started
        reads nothing until it is in position, so a silent wheel is given the longest wait
        for a move (``timeout_s``) once before it counts as absent."""
        try:
            return self._exchange("*idn?", self.reply_timeout_s, _nonempty, retries=0)
        except FilterWheelError:  # the error every wheel gives after power-on
            return self.query("*idn?")
        except DeviceTimeout:
            pass
        try:
            return self._exchange("*idn?", self.config.timeout_s, _nonempty, retries=0)
        except DeviceTimeout as err:
            raise DeviceTimeout(
                f"{err}; check that the port is the wheel's and that no other program still "
                f"has it open{holders_hint(self.config.port or '')}"
            ) from None

    def _discard(self) -> None:
        self.link.discard_input()
        self._rx = b""

    def _read_prompt(self, timeout_s: float) -> bytes | None:
        """Bytes up to and including the next prompt (the rest kept for the next read)."""
        deadline = time.monotonic() + timeout_s
        while True:
            i = self._rx.find(PROMPT)
            if i >= 0:
                raw, self._rx = self._rx[: i + len(PROMPT)], self._rx[i + len(PROMPT) :]
                return raw
            if time.monotonic() >= deadline:
                return None
            self._rx += self.link.read_some()

    def _read_reply(self, cmd: str, timeout_s: float) -> bytes | None:
        """The exchange that answers ``cmd``; whole exchanges of other commands before it
        (the late prompt of a ``pos=`` another program sent and did not wait for) are
        skipped."""
        deadline = time.monotonic() + timeout_s
        while True:
            raw = self._read_prompt(max(0.0, deadline - time.monotonic()))
            if raw is None or _echo(raw) in (cmd, None):
                return raw

    def _exchange(
        self,
        cmd: str,
        timeout_s: float,
        validate: Callable[[str], None] | None,
        retries: int | None = None,
    ) -> str:
        """Send ``cmd`` and parse its reply, repeating a timed-out or garbled exchange
        ``retries`` times (default: the configured ones) and reopening a lost port once."""
        retries = self.retries if retries is None else retries
        problems: list[str] = []
        reopened = False
        attempt = 0
        while attempt <= retries:
            try:
                self._discard()
                self.link.write(cmd.encode("ascii") + b"\r")
                raw = self._read_reply(cmd, timeout_s)
            except LinkLost:
                if reopened:
                    raise DeviceDisconnected(
                        f"filter wheel on {self.config.port} disconnected twice during {cmd!r}; "
                        "check the USB cable and the wheel's power"
                    ) from None
                self.link.reopen()
                reopened = True
                continue
            attempt += 1
            if raw is None:
                problems.append("no reply")
                continue
            try:
                reply = parse_reply(cmd, raw)
            except _Garbled:
                problems.append(f"garbled reply {raw[:40]!r}")
                continue
            err = error_for(cmd, reply)
            if err is not None:
                raise err
            try:
                if validate is not None:
                    validate(reply)
            except ValueError:
                problems.append(f"unexpected reply {reply!r}")
                continue
            return reply
        summary = "; ".join(problems)
        if all(p == "no reply" for p in problems):
            raise DeviceTimeout(
                f"filter wheel on {self.config.port} did not answer {cmd!r} "
                f"({len(problems)} tries, {timeout_s:.2f} s each); check power and cable"
            )
        raise DeviceError(f"filter wheel on {self.config.port}: {cmd!r} failed: {summary}")

    # ------------------------------------------------------------------ moves
    def move_timeout_s(self, start: int | None, end: int) -> float:
        """Twice the expected move time plus the reply timeout, capped by config.timeout_s."""
        if start is None:
            steps = self.position_count // 2
        else:
            steps = abs(end - start)
            steps = min(steps, self.position_count - steps)
        per_slot_s = self.config.move_ms_per_slot / 1000.0 * (1 if self.config.high_speed else 2)
        expected = steps * per_slot_s * self.timing_scale
        return min(self.config.timeout_s, self.reply_timeout_s + 2.0 * expected)

    def _do_start_move(self, slot: int) -> None:
        with self.link.lock:
            self._finish_pending()
            timeout = self.move_timeout_s(self._slot, slot)
            try:
                self._discard()
                self.link.write(f"pos={slot}\r".encode("ascii"))
            except LinkLost:
                self.link.reopen()  # DeviceDisconnected if it does not come back
                self.link.write(f"pos={slot}\r".encode("ascii"))
            self._pending = _PendingMove(slot, timeout, time.monotonic())

    def _do_wait(self) -> None:
        with self.link.lock:
            self._finish_pending()

    def _finish_pending(self) -> None:
        """Wait for the prompt of the pending ``pos=``, then confirm with ``pos?``."""
        move, self._pending = self._pending, None
        if move is None:
            return
        cmd = f"pos={move.slot}"
        remaining = max(0.0, move.started + move.timeout_s - time.monotonic())
        try:
            raw = self._read_reply(cmd, remaining)
        except LinkLost:
            self.link.reopen()
            raw = None
        if raw is not None:
            try:
                err = error_for(cmd, parse_reply(cmd, raw))
            except _Garbled:
                err = None  # the confirmation below decides
            if err is not None:
                raise err
        for _ in range(self.retries + 1):
            at = int(self._exchange("pos?", self.reply_timeout_s, _integer))
            if at == move.slot:
                self._slot = at
                return
            # not there (a lost or refused command): ask again and wait the whole move
            self._exchange(cmd, move.timeout_s, None)
        self._slot = None
        raise DeviceTimeout(
            f"filter wheel did not reach slot {move.slot} within {move.timeout_s:.1f} s "
            f"({self.retries + 1} tries); check that the wheel turns freely"
        )

    def _do_get_slot(self) -> int:
        slot = self.query_int("pos?")
        self._slot = slot
        return slot


#: a wheel command as echoed: lower-case keyword (or ``*idn``), then ``?`` or ``=value``
_COMMAND = re.compile(r"^\*?[a-z]+(\?|=\d*)$")


def _echo(raw: bytes) -> str | None:
    """The command an exchange echoes, or None when it does not start with one (noise)."""
    first = raw[: -len(PROMPT)].split(b"\r", 1)[0].strip(b"\r\n")
    text = first.decode("ascii", "replace")
    return text if _COMMAND.match(text) else None


def _nonempty(reply: str) -> None:
    if not reply:
        raise ValueError("empty reply")


def _integer(reply: str) -> None:
    int(reply)
