"""Starts and stops the engine's LiveView in the device worker (camera calls off the GUI thread).

Each wavelength keeps its own exposure (``presets``): switching the wavelength brings back
the exposure set for it; ``auto_expose`` finds one from the camera's own frames.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from uvscope.drivers.rig import Rig
from uvscope.gui.device_worker import DeviceWorker
from uvscope.gui.exposure import AutoExposure, ExposurePresets, auto_expose, full_scale


class LiveSession(QObject):
    """``started(source, nm, exposure_ms)`` once frames flow; ``stopped()`` when they end."""

    started = Signal(object, int, float)
    stopped = Signal()
    #: (nm, exposure_ms): a wavelength's exposure preset changed (typed or auto-exposure)
    preset_changed = Signal(int, float)
    #: the AutoExposure result, once live view runs again at the exposure found
    auto_exposed = Signal(object)
    refused = Signal(str)  # start() while locked: why

    def __init__(self, rig: Rig, worker: DeviceWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rig = rig
        self.worker = worker
        self.live: Any = None
        self.wavelength_nm = 260
        self.exposure_ms = 50.0
        self.presets = ExposurePresets()
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
        refused (``refused`` signal) while locked.

        A new wavelength without an exposure takes that wavelength's preset; an exposure
        given becomes the preset of the wavelength shown.
        """
        if self.locked_by is not None:
            self.refused.emit(f"live view is locked: {self.locked_by}")
            return
        if wavelength_nm is not None and wavelength_nm != self.wavelength_nm:
            self.wavelength_nm = wavelength_nm
            if exposure_ms is None:
                self.exposure_ms = self.presets.get(wavelength_nm)
        if exposure_ms is not None:
            self.exposure_ms = exposure_ms
            self.set_preset(self.wavelength_nm, exposure_ms)
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

    def set_preset(self, nm: int, exposure_ms: float) -> None:
        if self.presets.by_nm.get(nm) != exposure_ms:
            self.presets.set(nm, exposure_ms)
            self.preset_changed.emit(nm, exposure_ms)

    def set_presets(self, by_nm: dict[int, float]) -> None:
        """The scan file's exposures as the starting presets (live view keeps what it shows)."""
        for nm, ms in by_nm.items():
            self.presets.set(nm, ms)
        if self.wavelength_nm in by_nm and not self.running:
            self.exposure_ms = by_nm[self.wavelength_nm]

    def auto_expose(self) -> None:
        """Find this wavelength's exposure (live view paused: the camera is shared)."""
        nm, start_ms = self.wavelength_nm, self.exposure_ms
        was_running = self.running

        def work() -> AutoExposure:
            self._stop_now()
            cam = self.rig.camera
            self.rig.filter_wheel.move_to_wavelength(nm)

            def snap(ms: float) -> Any:
                cam.set_exposure_ms(ms)
                return cam.snap().image

            return auto_expose(snap, start_ms, full_scale(cam.bit_depth), cam.exposure_range_ms)

        def done(result: AutoExposure) -> None:
            self.exposure_ms = result.exposure_ms
            self.set_preset(nm, result.exposure_ms)
            if was_running:
                self.start(on_done=lambda _: self.auto_exposed.emit(result))
            else:
                self.auto_exposed.emit(result)

        self.worker.submit(f"auto-expose at {nm} nm", work, on_done=done)

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
