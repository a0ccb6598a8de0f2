"""A minimal newest-frame-wins camera loop, used only where ``uvscope.acquisition.live`` is absent.

Same surface as the engine's LiveView (``start``/``stop``/``latest``/``fps``): a thread moves
the wheel, sets the exposure and snaps frames; ``latest`` hands out the newest one and the
thread never waits for the display. Frames are paced at the camera's real rate (exposure +
readout) even on a virtual clock, so a simulated live view does not spin a CPU core.
"""

from __future__ import annotations

import threading
import time

from uvscope.drivers.base import Frame
from uvscope.drivers.rig import Rig


class SnapLoop:
    def __init__(self, rig: Rig, wavelength_nm: int, exposure_ms: float) -> None:
        self.rig = rig
        self.wavelength_nm = wavelength_nm
        self.exposure_ms = exposure_ms
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames = 0
        self.fps = 0.0
        self.error: BaseException | None = None

    def start(self) -> None:
        """Move the wheel and set the exposure (errors raise here), then stream in a thread."""
        self.rig.filter_wheel.move_to_wavelength(self.wavelength_nm)
        self.rig.camera.set_exposure_ms(self.exposure_ms)
        self._thread = threading.Thread(target=self._run, name="uvscope-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def latest(self) -> Frame | None:
        with self._lock:
            return self._latest

    def _run(self) -> None:
        period = (self.exposure_ms + self.rig.config.camera.readout_ms) / 1000.0
        t0 = time.perf_counter()
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                frame = self.rig.camera.snap()
            except Exception as err:  # the session reports it; the loop ends
                self.error = err
                return
            with self._lock:
                self._latest = frame
            self.frames += 1
            self.fps = self.frames / max(1e-9, time.perf_counter() - t0)
            self._stop.wait(max(0.0, period - (time.perf_counter() - started)))
