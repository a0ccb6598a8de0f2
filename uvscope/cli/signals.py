"""Ctrl-C and SIGTERM during a scan: stop at the next tile boundary, never mid-write.

The first SIGINT or SIGTERM asks the engine to stop at the next tile boundary: the frames in
flight are read and saved, the manifest and event log say "interrupted" and how to resume,
and the analysis of the tiles taken so far finishes. A second one leaves without waiting for
the analysis (``uvscope scan --resume`` or ``uvscope analyze`` finishes it later); a third
ends the process at once. The exit status is 128 + the signal: 130 for SIGINT, 143 for
SIGTERM.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any


class LeaveNow(BaseException):
    """Raised in the main thread by the second signal: stop waiting for the analysis."""


class SignalStop:
    """Installs the handlers for the life of a ``with`` block (main thread only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, engine: Any, say: Callable[[str], None]) -> None:
        self.engine = engine
        self.say = say
        self.signum: int | None = None
        self.count = 0
        self._previous: dict[int, Any] = {}

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    def __enter__(self) -> SignalStop:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.signum = self.signum or signum
        name = signal.Signals(signum).name
        if self.count == 1:
            self.engine.interrupt(f"interrupted by {name}")
            self.say(
                f"{name}: stopping at the next tile boundary (every tile taken is kept); "
                "press Ctrl-C again to stop without waiting for the analysis"
            )
        elif self.count == 2:
            self.engine.leave_analysis()
            raise LeaveNow()
        else:
            os._exit(self.exit_code)
