"""One worker thread for every device call the GUI makes, so the window never waits on hardware.

Calls run one at a time in submission order (devices are not re-entrant); results and errors
come back on the GUI thread through queued Qt signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal


class DeviceWorker(QObject):
    """``submit(what, fn, ..., on_done=...)``: run ``fn`` off the GUI thread, report back on it."""

    #: (what, exception) when a call fails; the window shows it with what to do next
    failed = Signal(str, object)
    busy_changed = Signal(bool)
    _done = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uvscope-devices")
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = False
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def pending(self) -> int:
        return self._pending

    def submit(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future[Any] | None:
        """Queue ``fn(*args)``; ``on_done(result)`` / ``on_error(exc)`` run on the GUI thread."""
        if self._closed:
            return None
        with self._lock:
            self._pending += 1
            if self._pending == 1:
                self.busy_changed.emit(True)

        def job() -> Any:
            try:
                result = fn(*args)
            except Exception as err:  # reported on the GUI thread, never swallowed
                self._done.emit(("error", what, on_error), err)
                return None
            self._done.emit(("ok", what, on_done), result)
            return result

        return self._pool.submit(job)

    def _deliver(self, tag: tuple[str, str, Callable[..., None] | None], value: Any) -> None:
        kind, what, callback = tag
        with self._lock:
            self._pending -= 1
            idle = self._pending == 0
        if kind == "error":
            if callback is not None:
                callback(value)
            self.failed.emit(what, value)
        elif callback is not None:
            callback(value)
        if idle:
            self.busy_changed.emit(False)

    def shutdown(self, wait: bool = True) -> None:
        """Refuse new calls; with ``wait``, run the queued ones (closing devices) to the end,
        otherwise drop those not started."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
