"""Clocks: real time for a rig, virtual time for fast simulated scans.

Simulated devices model their timing by sleeping on the rig's clock. On a ``VirtualClock``
sleeping advances time instantly, so a 1,000-tile scan runs in seconds while every device
still reports realistic durations.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since an arbitrary origin."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (advances a virtual clock)."""
        ...

    def sleep_until(self, t: float) -> None:
        """Wait until ``now() >= t``."""
        ...


class RealClock:
    """Wall-clock time (``time.monotonic``)."""

    virtual = False

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def sleep_until(self, t: float) -> None:
        self.sleep(t - self.now())


class VirtualClock:
    """Time that only moves when somebody sleeps; thread-safe, never goes backwards."""

    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._t += seconds

    def sleep_until(self, t: float) -> None:
        with self._lock:
            if t > self._t:
                self._t = t
