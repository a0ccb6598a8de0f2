"""Python's cyclic garbage collector runs on the GUI thread only, on a timer.

Automatic collection runs in whichever thread happens to allocate: the scan engine, the
analysis, a device call. When the cycles it frees hold Qt wrappers (a closed window, a
replaced label), Qt objects are destroyed off the GUI thread: the collecting thread holds a
Qt lock and waits for the GIL while the GUI thread holds the GIL and waits for that lock,
and the window freezes for good. The test suite hit exactly this (a device thread's
allocation collected the widgets of a closed window). Collecting on a GUI-thread timer
removes the path; pyqtgraph's ``GarbageCollector`` does the same, this one can also stop.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadGarbageCollector(QObject):
    """``start()`` turns automatic collection off and collects on a timer in this thread,
    with the interpreter's own generation thresholds; ``stop()`` collects and restores.

    The timer is short (100 ms) so the young generation stays small and each collection
    takes a millisecond or so; call ``settle_startup()`` once imports and models are loaded.
    """

    def __init__(self, interval_ms: int = 100, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._was_enabled = gc.isenabled()
        self.running = False

    def start(self) -> None:
        if self.running:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()
        self.running = True

    def stop(self) -> None:
        """Collect everything now (in this thread) and give collection back to Python."""
        if not self.running:
            return
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
        self.running = False

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds, as Python would."""
        t0, t1, t2 = gc.get_threshold()
        c0, c1, c2 = gc.get_count()
        if c0 > t0:
            gc.collect(0)
            if c1 > t1:
                gc.collect(1)
                if c2 > t2:
                    gc.collect(2)


def settle_startup() -> None:
    """Collect once, then move every object alive now (modules, torch, loaded models) to
    the permanent generation: they live as long as the program, and walking them again made
    a single collection on the GUI thread take 120-150 ms (measured right after torch's
    import with collection off)."""
    gc.collect()
    gc.freeze()
