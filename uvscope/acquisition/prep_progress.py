"""Progress of the preparation (darks, background, focus points) as ``PrepProgress`` events.

The preparation can take minutes on a real rig (a focus map is one autofocus sweep per
point); the operator sees each step's k of N and an ETA from the items done so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from uvscope.acquisition.events import PrepProgress, PrepStep


class PrepReporter:
    """Counts the items of one preparation step at a time and emits each count."""

    def __init__(
        self,
        emit: Callable[[PrepProgress], None] = lambda p: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.emit, self.clock = emit, clock
        self._step = PrepStep.DARKS
        self._done = self._total = 0
        self._t0_s = 0.0

    def begin(self, step: PrepStep, total: int, detail: str = "") -> None:
        """A step of ``total`` items starts (reported as 0 of ``total``)."""
        self._step, self._done, self._total = step, 0, total
        self._t0_s = self.clock()
        self._send(detail)

    def advance(self, next_detail: str = "") -> None:
        """One more item done; ``next_detail`` names the one in work now."""
        self._done = min(self._total, self._done + 1)
        self._send(next_detail)

    def _send(self, detail: str) -> None:
        elapsed_s = self.clock() - self._t0_s
        left = self._total - self._done
        eta_s = elapsed_s / self._done * left if self._done else None
        self.emit(PrepProgress(self._step, self._done, self._total, elapsed_s, eta_s, detail))
