"""Serve a device emulator on a pseudo-terminal so any serial client can talk to it.

The client opens a stable symlink (like a udev ``/dev/serial/by-id`` name). A dropped
connection closes the pty; with ``reconnect`` a new pty appears under the same name, as a
USB adapter does when it re-enumerates. One background thread reads requests, runs the
device's timed events and sends replies, and keeps a record of every byte received.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import tempfile
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Received:
    """One chunk of bytes the emulator read from the client, with its arrival time."""

    t: float
    data: bytes


GARBLE_BYTE = b"\xff"


class PtyEmulator:
    """Base of the wire-level emulators: pty plumbing, timing, records and faults.

    Subclasses implement ``handle_bytes`` (requests in) and ``tick`` (timed events) and answer
    through ``reply`` (subject to injected faults) or ``send`` (never faulted).
    """

    name = "device"

    def __init__(self, *, link_dir: str | Path | None = None, time_scale: float = 1.0) -> None:
        if not (math.isfinite(time_scale) and time_scale >= 0):
            raise ValueError(f"time_scale must be finite and 0 or more, got {time_scale}")
        self.time_scale = time_scale
        self._own_dir = link_dir is None
        self.link_dir = Path(link_dir or tempfile.mkdtemp(prefix="uvscope-emu-"))
        self.link_path = self.link_dir / self.name
        self.received: list[Received] = []
        #: exceptions raised while handling bytes or timed events (a bug if not empty); the
        #: loop goes on, so the port keeps answering whatever a client sent
        self.errors: list[str] = []
        self.sent: list[tuple[float, bytes]] = []
        self.lock = threading.RLock()
        self._faults: deque[str] = deque()
        self._master = -1
        self._slave = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._connected = False
        self._outbox: list[tuple[float, bytes]] = []

    # ------------------------------------------------------------------ lifecycle
    @property
    def path(self) -> str:
        """The port name a client opens."""
        return str(self.link_path)

    def start(self) -> PtyEmulator:
        self._open_pty()
        self._thread = threading.Thread(target=self._run, name=f"emu-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._close_pty()
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()
        if self._own_dir:
            with contextlib.suppress(OSError):
                self.link_dir.rmdir()

    def __enter__(self) -> PtyEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no line discipline: the bytes go through untouched
        os.set_blocking(master, False)
        tmp = self.link_dir / f".{self.name}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link_path)  # atomic: a client never sees a missing name
        old = (self._master, self._slave)
        self._master, self._slave = master, slave
        self._connected = True
        for fd in old:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
        self._connected = False

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        return time.monotonic()

    def scaled(self, seconds: float) -> float:
        """A device duration in real seconds under this emulator's speed factor."""
        return seconds * self.time_scale

    # ------------------------------------------------------------------ faults
    def inject(self, fault: str, count: int = 1) -> None:
        """Fault the next ``count`` replies: "no_reply" (swallow) or "garble" (corrupt)."""
        if fault not in ("no_reply", "garble"):
            raise ValueError(f"unknown fault {fault!r}")
        with self.lock:
            self._faults.extend([fault] * count)

    def drop(self, *, reconnect: bool = True) -> None:
        """Drop the connection; with ``reconnect`` the port comes back under the same name."""
        with self.lock:
            self._outbox.clear()
            if reconnect:
                self._open_pty()
            else:
                self._close_pty()
                with contextlib.suppress(FileNotFoundError):
                    self.link_path.unlink()
            self.on_drop()

    def on_drop(self) -> None:  # noqa: B027 - optional hook
        """Forget half-received requests (subclasses)."""

    # ------------------------------------------------------------------ output
    def send(self, data: bytes, delay_s: float = 0.0) -> None:
        with self.lock:
            self._outbox.append((self.now() + delay_s, data))

    def reply(self, data: bytes, delay_s: float = 0.0) -> None:
        """Send a reply unless a fault says to swallow or garble it."""
        with self.lock:
            fault = self._faults.popleft() if self._faults else None
        if fault == "no_reply":
            return
        if fault == "garble":
            data = self.garble(data)
        self.send(data, delay_s)

    def garble(self, data: bytes) -> bytes:
        return GARBLE_BYTE * len(data)

    # ------------------------------------------------------------------ device hooks
    def handle_bytes(self, data: bytes) -> None:
        raise NotImplementedError

    def tick(self) -> None:  # noqa: B027 - optional hook
        """Run timed events (moves finishing); called every loop turn."""

    # ------------------------------------------------------------------ loop
    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                master = self._master
            if master < 0:
                time.sleep(0.005)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.002)
            except (OSError, ValueError):
                continue  # the fd was swapped by drop(); pick up the new one
            if ready:
                try:
                    data = os.read(master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError:
                    data = b""
                if data:
                    with self.lock:
                        self.received.append(Received(self.now(), data))
                        self._guarded(self.handle_bytes, data)
            with self.lock:
                self._guarded(self.tick)
                self._flush()

    def _guarded(self, fn: Callable[..., None], *args: bytes) -> None:
        try:
            fn(*args)
        except Exception as err:  # one bad request must not silence the port for good
            self.errors.append(f"{getattr(fn, '__name__', fn)}: {type(err).__name__}: {err}")

    def _flush(self) -> None:
        now = self.now()
        due = [item for item in self._outbox if item[0] <= now]
        if not due:
            return
        self._outbox = [item for item in self._outbox if item[0] > now]
        for _, data in sorted(due, key=lambda item: item[0]):
            if self._master < 0:
                return
            with contextlib.suppress(OSError):
                os.write(self._master, data)
                self.sent.append((now, data))

    @property
    def received_bytes(self) -> bytes:
        with self.lock:
            return b"".join(r.data for r in self.received)
