"""The live camera image: newest frame wins, LUT with auto-levels, scale bar, stage cursor,
saturated pixels painted red with their count.

A QTimer pulls the newest frame from the live source at display rate; the acquisition thread
never waits for the display, and frames the display had no time for are simply skipped.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from uvscope.config import WAVELENGTHS_NM
from uvscope.drivers.base import Frame, FrameMeta
from uvscope.geometry import pixel_to_stage_mm
from uvscope.gui.exposure import full_scale, saturated_mask
from uvscope.gui.frame_saver import FrameSaver, frame_meta

SATURATED_RGBA = (255, 0, 0, 200)

pg.setConfigOptions(imageAxisOrder="row-major")


class FrameSource(Protocol):
    def latest(self) -> Frame | None: ...

    @property
    def fps(self) -> float: ...


def auto_levels(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """Percentile levels from a subsample (cheap enough for every frame)."""
    sub = image[::4, ::4]
    lo, hi = np.percentile(sub, (low, high))
    if hi <= lo:  # a flat field (e.g. all saturated) shows as bright, not black
        lo = hi - 1
    return float(lo), float(hi)


class LiveViewWidget(QWidget):
    """Shows frames of a FrameSource; emits ``wavelength_requested`` from the 260/280/300 switch."""

    wavelength_requested = Signal(int)
    #: the live source stopped on a device error (message); shown with what to do next
    source_failed = Signal(str)
    auto_exposure_requested = Signal()
    #: (x_mm, y_mm) double-clicked on the image: the window asks, then moves the stage there
    move_requested = Signal(float, float)

    def __init__(
        self,
        pixel_size_um: float = 0.16,
        display_hz: float = 30.0,
        parent: QWidget | None = None,
        bit_depth: int = 14,
    ) -> None:
        super().__init__(parent)
        self.pixel_size_um = pixel_size_um
        self.saturation_level = full_scale(bit_depth)
        self.saturated_px = 0
        self.source: FrameSource | None = None
        self.stage_mm: tuple[float, float] | None = None
        self.frames_shown = 0
        self.last_index = -1
        self.last_shown_at = 0.0
        self.last_meta: FrameMeta | None = None
        self.last_frame: Frame | None = None  #: the frame on screen (Snap keeps it)
        self.saver = FrameSaver(self)
        self._shown_times: deque[float] = deque(maxlen=30)
        self.glw = pg.GraphicsLayoutWidget()
        self.vb = self.glw.addViewBox(lockAspect=True, invertY=True)
        self.image = pg.ImageItem(autoDownsample=True)
        self.vb.addItem(self.image)
        self.overlay = pg.ImageItem()  # saturated pixels, red, above the image
        self.overlay.setZValue(10)
        self.vb.addItem(self.overlay)
        self.hist = pg.HistogramLUTItem(image=self.image)
        self.glw.addItem(self.hist)
        self.scale_bar = pg.ScaleBar(
            size=50.0 / pixel_size_um, width=6, brush=pg.mkBrush("w"), pen=pg.mkPen("k")
        )
        self.scale_bar.setParentItem(self.vb)
        self.scale_bar.anchor((1, 1), (1, 1), offset=(-20, -20))
        self.scale_bar.text.setText("50 µm")
        # readable over a bright field too (the bar sits over the image in a small window)
        self.scale_bar.text.fill = pg.mkBrush(0, 0, 0, 160)
        self.scale_bar.text.setColor("w")
        self.glw.scene().sigMouseMoved.connect(self._on_mouse)
        self.glw.scene().sigMouseClicked.connect(self._on_click)
        # the arrow keys jog the stage only while the image has focus (a click gives it)
        self.glw.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.glw.setToolTip("Click the image, then the arrow keys jog the stage")

        self.auto = QCheckBox("Auto levels")
        self.auto.setChecked(True)
        self.show_saturation = QCheckBox("Saturation")
        self.show_saturation.setChecked(True)
        self.show_saturation.setToolTip("Paint saturated pixels red")
        self.saturation_label = QLabel("")
        self.auto_exposure_button = QPushButton("Auto exposure")
        self.auto_exposure_button.setToolTip(
            "Set this wavelength's exposure so the bright part of the field reaches 70 % of "
            "full scale with nothing saturated (kept per wavelength and used by the scan form)"
        )
        self.auto_exposure_button.clicked.connect(self.auto_exposure_requested.emit)
        self.snap_button = QPushButton("Snap")
        self.snap_button.setCheckable(True)
        self.snap_button.setToolTip("Hold the frame on screen (press again to go live)")
        self.snap_button.toggled.connect(self._snap)
        self.save_button = QPushButton("Save frame...")
        self.save_button.setToolTip(
            "Save the frame on screen as OME-TIFF: raw camera counts, lossless, with pixel "
            "size, wavelength, exposure and stage position"
        )
        self.save_button.clicked.connect(self._save_dialog)
        self.fps_label = QLabel("no camera")
        self.exposure_label = QLabel("")
        self.cursor_label = QLabel("")
        self.wl_buttons: dict[int, QPushButton] = {}
        group = QButtonGroup(self)
        group.setExclusive(True)
        top = QHBoxLayout()
        for nm in WAVELENGTHS_NM:
            b = QPushButton(f"{nm} nm")
            b.setCheckable(True)
            b.clicked.connect(lambda _=False, nm=nm: self.wavelength_requested.emit(nm))
            group.addButton(b)
            self.wl_buttons[nm] = b
            top.addWidget(b)
        top.addSpacing(12)
        top.addWidget(self.auto)
        top.addWidget(self.show_saturation)
        top.addWidget(self.auto_exposure_button)
        top.addWidget(self.snap_button)
        top.addWidget(self.save_button)
        top.addSpacing(12)
        top.addWidget(self.saturation_label)
        top.addStretch(1)
        # the status line below the image: it keeps the live view narrow enough for a laptop
        bottom = QHBoxLayout()
        bottom.addWidget(self.cursor_label)
        bottom.addStretch(1)
        bottom.addWidget(self.exposure_label)
        bottom.addSpacing(12)
        bottom.addWidget(self.fps_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.glw, 1)
        lay.addLayout(bottom)

        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / display_hz))
        self.timer.timeout.connect(self.refresh)

    # ------------------------------------------------------------------ source
    def set_source(
        self,
        source: FrameSource | None,
        wavelength_nm: int | None = None,
        exposure_ms: float | None = None,
    ) -> None:
        self.source = source
        if wavelength_nm in self.wl_buttons:
            self.wl_buttons[wavelength_nm].setChecked(True)
        if exposure_ms is not None:
            self.exposure_label.setText(f"exposure {exposure_ms:g} ms")
        if source is None:
            self.timer.stop()
            self.fps_label.setText("live view stopped")
        else:
            self.timer.start()

    # ------------------------------------------------------------------ snap and save
    def _snap(self, on: bool) -> None:
        self.snap_button.setText("Live" if on else "Snap")
        if on and self.last_frame is not None:
            self.fps_label.setText(f"snapped frame {self.last_frame.meta.frame_index}")

    def wavelength_nm(self) -> int | None:
        return next((nm for nm, b in self.wl_buttons.items() if b.isChecked()), None)

    def save_frame(self, path: str | Path) -> bool:
        """Write the frame on screen (raw counts) as OME-TIFF, off the GUI thread."""
        frame = self.last_frame
        if frame is None:
            self.saver.failed.emit("no frame to save yet: start the live view first")
            return False
        meta = frame_meta(frame, self.pixel_size_um, self.wavelength_nm(), self.stage_mm)
        self.saver.save(path, frame, meta)
        return True

    def _save_dialog(self) -> None:
        name = f"frame-{time.strftime('%Y%m%d-%H%M%S')}.ome.tif"
        path, _ = QFileDialog.getSaveFileName(
            self, "Save frame as OME-TIFF", name, "OME-TIFF (*.ome.tif)"
        )
        if path:
            self.save_frame(path)

    def set_pixel_size(self, pixel_size_um: float) -> None:
        self.pixel_size_um = pixel_size_um
        self.scale_bar.size = 50.0 / pixel_size_um
        self.scale_bar.updateBar()

    def refresh(self) -> bool:
        """Show the newest frame if there is a new one; True when something was drawn."""
        if self.source is None:
            return False
        error = getattr(self.source, "error", None)
        if error:
            self.source_failed.emit(str(error))
            self.set_source(None)
            return False
        if self.snap_button.isChecked():
            return False  # snapped: the held frame stays
        frame = self.source.latest()
        if frame is None or frame.meta.frame_index == self.last_index:
            return False
        self.last_frame = frame
        img = frame.image
        levels = auto_levels(img) if self.auto.isChecked() else self.hist.getLevels()
        self.image.setImage(img, autoLevels=False, levels=levels)
        if self.auto.isChecked():
            self.hist.setLevels(*levels)
        self._show_saturation(img)
        self.last_index = frame.meta.frame_index
        self.last_meta = frame.meta
        self.frames_shown += 1
        now = time.perf_counter()
        self.last_shown_at = now
        self._shown_times.append(now)
        self.exposure_label.setText(f"exposure {frame.meta.exposure_ms:.3g} ms")
        self.fps_label.setText(
            f"camera {self.source.fps:.1f} fps, display {self.display_fps:.1f} fps"
        )
        return True

    def _show_saturation(self, img: np.ndarray) -> None:
        mask = saturated_mask(img, self.saturation_level)
        n = int(mask.sum())
        self.saturated_px = n
        if n and self.show_saturation.isChecked():
            rgba = np.zeros((*mask.shape, 4), np.uint8)
            rgba[mask] = SATURATED_RGBA
            self.overlay.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.overlay.setVisible(True)
        else:
            self.overlay.setVisible(False)
        if n:
            share = 100.0 * n / mask.size
            self.saturation_label.setText(f"SATURATED: {n} px ({share:.1f} %)")
            self.saturation_label.setStyleSheet("color: white; background: #b00; padding: 0 4px")
        else:
            self.saturation_label.setText("not saturated")
            self.saturation_label.setStyleSheet("color: #060")

    @property
    def display_fps(self) -> float:
        t = self._shown_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    # ------------------------------------------------------------------ cursor
    def stage_at(self, row: float, col: float) -> tuple[float, float] | None:
        """Stage (x, y) in mm under image pixel (row, col), given the current stage position."""
        if self.stage_mm is None or self.image.image is None:
            return None
        h, w = self.image.image.shape[:2]
        x, y = pixel_to_stage_mm(row, col, self.stage_mm, (h, w), self.pixel_size_um)
        return float(x), float(y)

    def _on_mouse(self, pos: QPointF) -> None:
        if self.image.image is None or not self.vb.sceneBoundingRect().contains(pos):
            return
        p = self.vb.mapSceneToView(pos)
        row, col = p.y(), p.x()
        h, w = self.image.image.shape[:2]
        if not (0 <= row < h and 0 <= col < w):
            self.cursor_label.setText("")
            return
        value = self.image.image[int(row), int(col)]
        text = f"pixel ({int(row)}, {int(col)}) = {value}"
        stage = self.stage_at(row, col)
        if stage is not None:
            text += f"   stage x {stage[0]:.4f} mm, y {stage[1]:.4f} mm"
        self.cursor_label.setText(text)

    def _on_click(self, ev: object) -> None:
        if not getattr(ev, "double", lambda: False)() or self.image.image is None:
            return
        p = self.vb.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
        self.move_to_pixel(p.y(), p.x())

    def move_to_pixel(self, row: float, col: float) -> None:
        """Ask to bring image pixel (row, col) to the centre of the field."""
        stage = self.stage_at(row, col)
        if stage is not None:
            self.move_requested.emit(*stage)
