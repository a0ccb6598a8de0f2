"""Measures how long the GUI event loop goes without running (the longest "freeze")."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer


class StallMonitor(QObject):
    """A fast timer whose late firings reveal event-loop stalls; ``max_stall_ms`` is the worst."""

    def __init__(self, interval_ms: int = 5, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self.max_stall_ms = 0.0
        self.stalls_over_50ms = 0
        self.ticks = 0
        self.stalls_ms: list[float] = []  #: every tick's lateness, for percentiles

    def start(self) -> None:
        self.max_stall_ms = 0.0
        self.stalls_over_50ms = 0
        self.ticks = 0
        self.stalls_ms = []
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        stall = (now - self._last) * 1000.0 - self.interval_ms
        self._last = now
        self.ticks += 1
        self.stalls_ms.append(stall)
        if stall > self.max_stall_ms:
            self.max_stall_ms = stall
        if stall > 50.0:
            self.stalls_over_50ms += 1
