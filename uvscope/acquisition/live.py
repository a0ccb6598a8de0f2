"""Live view: a thread that snaps frames continuously; the newest frame wins.

The acquisition thread never waits for a display: ``latest()`` hands out the newest frame
and older ones are simply replaced, so a slow display drops frames instead of adding lag.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from uvscope.drivers.base import Frame
from uvscope.drivers.rig import Rig
from uvscope.errors import DeviceError


class LiveView:
    def __init__(
        self, rig: Rig, wavelength_nm: int = 260, exposure_ms: float = 50.0, max_fps: float = 30.0
    ) -> None:
        self.rig = rig
        self.wavelength_nm = wavelength_nm
        self.exposure_ms = exposure_ms
        self.max_fps = max_fps
        self._latest: Frame | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._times: deque[float] = deque(maxlen=30)
        self.error: str | None = None
        self._settings_changed = threading.Event()
        self._settings_changed.set()

    # ---------------------------------------------------------------- control
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run, name="uvscope-live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_wavelength(self, nm: int) -> None:
        self.wavelength_nm = nm
        self._settings_changed.set()

    def set_exposure_ms(self, exposure_ms: float) -> None:
        self.exposure_ms = exposure_ms
        self._settings_changed.set()

    # ---------------------------------------------------------------- frames
    def latest(self) -> Frame | None:
        """The newest frame (None before the first)."""
        with self._lock:
            return self._latest

    def latest_with_seq(self) -> tuple[int, Frame | None]:
        """(sequence number, newest frame): a display skips work when the number is unchanged."""
        with self._lock:
            return self._seq, self._latest

    @property
    def fps(self) -> float:
        t = list(self._times)
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def _run(self) -> None:
        cam, wheel = self.rig.camera, self.rig.filter_wheel
        period = 1.0 / self.max_fps
        try:
            while not self._stop.is_set():
                t0 = time.monotonic()
                if self._settings_changed.is_set():
                    self._settings_changed.clear()
                    wheel.move_to_wavelength(self.wavelength_nm)
                    cam.set_exposure_ms(self.exposure_ms)
                frame = cam.snap()
                with self._lock:
                    self._latest = frame
                    self._seq += 1
                self._times.append(time.monotonic())
                rest = period - (time.monotonic() - t0)
                if rest > 0:
                    self._stop.wait(rest)
        except DeviceError as err:
            self.error = str(err)
