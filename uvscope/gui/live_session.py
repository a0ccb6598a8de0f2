"""Starts and stops the engine's LiveView in the device worker (camera calls off the GUI thread)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from uvscope.drivers.rig import Rig
from uvscope.gui.device_worker import DeviceWorker


class LiveSession(QObject):
    """``started(source, nm, exposure_ms)`` once frames flow; ``stopped()`` when they end."""

    started = Signal(object, int, float)
    stopped = Signal()
    refused = Signal(str)  # start() while locked: why

    def __init__(self, rig: Rig, worker: DeviceWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rig = rig
        self.worker = worker
        self.live: Any = None
        self.wavelength_nm = 260
        self.exposure_ms = 50.0
        #: while set (a scan runs), live view may not start: it would fight the engine for
        #: the camera and the wheel
        self.locked_by: str | None = None

    def lock(self, reason: str) -> None:
        self.locked_by = reason

    def unlock(self) -> None:
        self.locked_by = None

    @property
    def running(self) -> bool:
        return self.live is not None

    def start(
        self,
        wavelength_nm: int | None = None,
        exposure_ms: float | None = None,
        on_done: Callable[[Any], None] | None = None,
    ) -> None:
        """(Re)start live view at a wavelength and exposure (the wheel moves in the worker);
        refused (``refused`` signal) while locked."""
        if self.locked_by is not None:
            self.refused.emit(f"live view is locked: {self.locked_by}")
            return
        if wavelength_nm is not None:
            self.wavelength_nm = wavelength_nm
        if exposure_ms is not None:
            self.exposure_ms = exposure_ms
        nm, exp = self.wavelength_nm, self.exposure_ms

        live = self.live
        if live is not None and live.running:  # retune the running view: no restart
            live.set_wavelength(nm)
            live.set_exposure_ms(exp)
            self.started.emit(live, nm, exp)
            if on_done is not None:
                on_done(live)
            return

        def restart() -> Any:
            from uvscope.acquisition.live import LiveView

            self._stop_now()
            live = LiveView(self.rig, nm, exp)
            live.start()
            self.live = live
            return live

        def done(live: Any) -> None:
            self.started.emit(live, nm, exp)
            if on_done is not None:
                on_done(live)

        self.worker.submit(f"start the live view at {nm} nm", restart, on_done=done)

    def stop(self, on_done: Callable[[Any], None] | None = None) -> None:
        def done(_: Any) -> None:
            self.stopped.emit()
            if on_done is not None:
                on_done(None)

        self.worker.submit("stop the live view", self._stop_now, on_done=done)

    def _stop_now(self) -> None:
        live, self.live = self.live, None
        if live is not None:
            live.stop()
