"""The run's state machine and the operator's requests (pause, interrupt, abort).

Requests come from other threads (the GUI, a signal handler) and are only flags here; the
runner reads them at tile boundaries, and a device error's retry waits on them too, so Pause
always halts retries.
"""

from __future__ import annotations

import threading

from uvscope.acquisition.events import RunState, ScanEvents
from uvscope.errors import ScanAborted

#: how often a paused run looks for an abort (seconds)
PAUSE_POLL_S = 0.1


class RunControl:
    """The ``RunState`` of a scan and the requests made of it, shared by engine and runner."""

    def __init__(self, events: ScanEvents) -> None:
        self.events = events
        self.state = RunState.IDLE
        self.interrupt_reason = ""
        #: close only the writer at the end: the analysis is finished later
        self.leave_sinks = False
        self._state_before_pause = RunState.RUNNING
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._abort = threading.Event()
        self._interrupt = threading.Event()  # stop at the next tile boundary

    # ------------------------------------------------------------------ requests
    def pause(self) -> None:
        """Hold at the next tile boundary, and hold every retry of a device error."""
        if self.state in (RunState.RUNNING, RunState.PREPARING):
            self.hold()

    def hold(self) -> None:
        """Pause whatever the state (a spent retry budget waits for the operator)."""
        self._state_before_pause = self.state
        self._running.clear()
        self.set_state(RunState.PAUSED)

    def resume(self) -> None:
        if self.state == RunState.PAUSED:
            self.set_state(self._state_before_pause)
            self._running.set()

    def interrupt(self, reason: str) -> None:
        self.interrupt_reason = reason
        self._interrupt.set()
        self._running.set()

    def leave_analysis(self) -> None:
        self.leave_sinks = True
        if not self._interrupt.is_set():
            self.interrupt("interrupted by the user")

    def abort(self) -> None:
        self._abort.set()
        self._running.set()

    # ------------------------------------------------------------------ the runner's side
    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    @property
    def interrupted(self) -> bool:
        return self._interrupt.is_set()

    def set_state(self, state: RunState) -> None:
        self.state = state
        self.events.state_changed.emit(state)

    def enter_running(self) -> None:
        """Preparation is over: running, or still paused if paused while preparing."""
        if self.state == RunState.PAUSED:
            self._state_before_pause = RunState.RUNNING
        else:
            self.set_state(RunState.RUNNING)

    def wait_if_paused(self) -> None:
        while not self._running.wait(PAUSE_POLL_S):
            if self._abort.is_set():
                return

    def raise_if_aborted(self, cause: BaseException | None = None) -> None:
        if self._abort.is_set():
            raise ScanAborted("scan aborted by the user") from cause
