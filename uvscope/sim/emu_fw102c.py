"""A Thorlabs FW102C / FW212C filter wheel on a pseudo-terminal.

Speaks the ASCII protocol of the real wheel (hardware.md): CR-terminated lower-case
commands, the command echoed, then the reply and a ``> `` prompt; ``pos=n`` answers only once
the wheel is in position, and the wheel reads nothing else while it turns. An empty line is
answered with ``CMD_NOT_DEFINED`` (the manual's only case of that error for a well-formed
line); ``power_on_error`` makes the first command after power-on fail the same way, to test
a client's tolerance of line noise at power-up. ``save`` stores the settings.

Decisions where the manual is silent: commands that arrive while the wheel turns are kept
and answered in order once it is in position (hardware.md: ``pos=`` answers only then;
whether a real wheel buffers or drops them is unverified), and a client that closes the port
before its ``pos=`` prompt does not stop the wheel: the prompt is still sent when it arrives,
for the next client to read (or purge), and the wheel keeps every setting it was left with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from uvscope.sim.emu_pty import PtyEmulator

IDN = "THORLABS FW102C/FW212C Filter Wheel version 1.07"
NOT_DEFINED = "Command error CMD_NOT_DEFINED"
ARG_INVALID = "Command error CMD_ARG_INVALID"
PROMPT = "> "


@dataclass(frozen=True)
class WheelMove:
    """A requested move, kept for tests (position requested, time received)."""

    t: float
    slot: int
    valid: bool


class EmuFW102C(PtyEmulator):
    """FW102C emulator; ``commands`` lists every command line received, in order."""

    name = "fw102c"

    def __init__(
        self,
        *,
        position_count: int = 6,
        ms_per_slot: float = 1000.0,
        slow_factor: float = 1.0,
        power_on_error: bool = False,
        start_slot: int = 1,
        link_dir: str | Path | None = None,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__(link_dir=link_dir, time_scale=time_scale)
        self.pcount = position_count
        self.ms_per_slot = ms_per_slot
        self.slow_factor = slow_factor
        self.power_on_error = power_on_error
        self.pos = start_slot
        self.speed = 1
        self.trig = 0
        self.sensors = 0
        self.baud = 1
        #: settings stored by ``save`` (restored at the next power-on of a real wheel)
        self.saved: dict[str, int] = {}
        self.commands: list[str] = []
        self.moves: list[WheelMove] = []
        #: moves that asked for a slot outside 1..pcount (the assertion hook for tests)
        self.violations: list[str] = []
        self._buf = b""
        self._busy_until = 0.0

    def on_drop(self) -> None:
        self._buf = b""

    def garble(self, data: bytes) -> bytes:
        """Line noise in place of the text; the prompt survives, as after a baud glitch."""
        body = data[: -len(PROMPT)]
        return b"\xfe" * len(body) + PROMPT.encode()

    def move_time_s(self, start: int, end: int) -> float:
        """Shortest way round, slower at speed=0; real seconds after the speed factor."""
        steps = abs(end - start)
        steps = min(steps, self.pcount - steps)
        per_slot = self.ms_per_slot / 1000.0 * (1.0 if self.speed else 2.0)
        return self.scaled(steps * per_slot * self.slow_factor)

    # ------------------------------------------------------------------ protocol
    def handle_bytes(self, data: bytes) -> None:
        self._buf += data

    def tick(self) -> None:
        # the wheel's controller reads no command while it turns
        while self.now() >= self._busy_until and b"\r" in self._buf:
            line, self._buf = self._buf.split(b"\r", 1)
            # latin-1: every byte is a character and echoes back as the same byte
            self._command(line.decode("latin-1").strip("\n"))

    def _answer(self, cmd: str, reply: str | None = None, delay_s: float = 0.0) -> None:
        text = cmd + "\r" + (reply + "\r" if reply is not None else "") + PROMPT
        self.reply(text.encode("latin-1"), delay_s)

    def _command(self, cmd: str) -> None:
        self.commands.append(cmd)
        if self.power_on_error:
            self.power_on_error = False
            self._answer(cmd, NOT_DEFINED)
            return
        if cmd == "save":
            self.saved = {
                k: getattr(self, k) for k in ("pos", "pcount", "speed", "trig", "sensors", "baud")
            }
            self._answer(cmd)
        elif cmd.endswith("?"):
            self._query(cmd)
        elif "=" in cmd:
            key, _, arg = cmd.partition("=")
            self._set(cmd, key, arg)
        else:
            self._answer(cmd, NOT_DEFINED)

    def _query(self, cmd: str) -> None:
        values = {
            "*idn?": IDN,
            "pos?": str(self.pos),
            "pcount?": str(self.pcount),
            "speed?": str(self.speed),
            "trig?": str(self.trig),
            "sensors?": str(self.sensors),
            "baud?": str(self.baud),
        }
        self._answer(cmd, values.get(cmd, NOT_DEFINED))

    def _set(self, cmd: str, key: str, arg: str) -> None:
        if not (arg.isascii() and arg.isdigit()):
            self._answer(cmd, ARG_INVALID)
            return
        value = int(arg)
        if key == "pos":
            valid = 1 <= value <= self.pcount
            self.moves.append(WheelMove(self.now(), value, valid))
            if not valid:
                self.violations.append(f"pos={value} outside 1..{self.pcount}")
                self._answer(cmd, ARG_INVALID)
                return
            duration = self.move_time_s(self.pos, value)
            self.pos = value
            self._busy_until = self.now() + duration
            self._answer(cmd, delay_s=duration)  # the prompt comes once in position
            return
        limits = {
            "pcount": (6, 12),
            "speed": (0, 1),
            "trig": (0, 1),
            "sensors": (0, 1),
            "baud": (0, 1),
        }
        if key not in limits:
            self._answer(cmd, NOT_DEFINED)
            return
        lo, hi = limits[key]
        if key == "pcount" and value not in (6, 12) or not lo <= value <= hi:
            self._answer(cmd, ARG_INVALID)
            return
        setattr(self, key, value)
        self._answer(cmd)
