"""What a device error costs: the retry budget charged, the error logged, then a retry.

Within budget the devices are reopened and the step runs again at once. When the budget is
spent a headless scan stops cleanly (finish it with ``--resume``); the GUI pauses with a
banner until the operator's Resume grants another try, or Abort ends the scan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from uvscope.acquisition.control import RunControl
from uvscope.acquisition.events import ScanEvents
from uvscope.acquisition.retry import RetryBudget
from uvscope.acquisition.steps import ScanRecord
from uvscope.drivers.rig import Rig
from uvscope.errors import DeviceError, ScanError

T = TypeVar("T")


class DeviceErrorPolicy:
    """``on_device_error``: "stop" (headless) or "pause" (GUI) once the budget is spent."""

    def __init__(
        self,
        budget: RetryBudget,
        on_device_error: str,
        control: RunControl,
        rig: Rig,
        folder: ScanRecord,
        events: ScanEvents,
    ) -> None:
        self.budget, self.on_device_error = budget, on_device_error
        self.control, self.rig, self.folder, self.events = control, rig, folder, events

    def handle(self, err: DeviceError, where: str, **extra: object) -> None:
        """Charge the budget and return when a retry may go ahead (devices reopened).

        Raises ScanError (headless, budget spent) or ScanAborted. Pause halts retries."""
        allowed = self.budget.charge(where)
        self.folder.log_event(
            "device-error",
            f"{where}: {err}" if "tile" not in extra else str(err),
            attempt=self.budget.spent_by[where],
            scan_errors=self.budget.spent,
            **extra,
        )
        self.events.log.emit(f"{where}: {err}")
        if not allowed:
            self._spent(err, where)
        self.control.wait_if_paused()  # a Pause (the operator's or the budget's) halts retries
        self.control.raise_if_aborted(err)
        self.rig.reopen()

    def _spent(self, err: DeviceError, where: str) -> None:
        if self.on_device_error != "pause":
            raise ScanError(
                f"device error at {where}: {err}; retry budget spent "
                f"({self.budget.describe(where)})"
            ) from err
        self.events.device_error.emit(
            f"{err}. Retries used up ({self.budget.describe(where)}). Check the device, "
            f"then Resume to retry {where} or Abort to stop (files so far are kept)."
        )
        self.control.hold()
        self.budget.grant(where)

    def retrying(self, what: str, fn: Callable[[], T]) -> T:
        """Run a step that is not a tile (background, focus map, re-focus) under the same
        budget, again after each device error."""
        while True:
            try:
                return fn()
            except DeviceError as err:
                self.handle(err, what)

    def log_recovered(self, failed: set[int]) -> None:
        """Tiles hit by device errors are taken: say after how many."""
        for index in sorted(failed):
            n = self.budget.spent_by[f"tile {index}"]
            self.folder.log_event(
                "recovered", f"tile {index} taken after {n} device error(s)", tile=index
            )
