"""The slide overview: the stage as a map in millimetres, so the operator sees where things are.

It draws the stage's soft limits, the smear (where the rig knows it: the simulated slide),
the region the set-up would scan with its first tile (where the scan starts), the tiles
scanned so far (live, from the tiles the window shows), the current camera field, and the
stage mosaics of earlier scans of the same slide in place. A left drag draws a new scan
region (``region_drawn``: the window writes it into the set-up's corner fields); a click
asks to move the stage there (``move_requested``: the window confirms and checks the soft
limits, as for a click in the live image). Stage y grows downwards, as in the mosaic view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from uvscope.acquisition.grow import smear_mm
from uvscope.config import RigConfig

#: a drag shorter than this (mm) on either side is a click, not a region
MIN_REGION_MM = 0.01
#: the earlier scans' mosaics are read at about this many pixels on their long side
EARLIER_MOSAIC_PX = 512

_LIMITS_PEN = QPen(QColor("#777777"), 0, Qt.PenStyle.DashLine)
_SLIDE_PEN = QPen(QColor("#b07d2b"), 0)
_PLAN_PEN = QPen(QColor("#1f5fbf"), 0)
_DRAG_PEN = QPen(QColor("#1f5fbf"), 0, Qt.PenStyle.DashLine)
_FIELD_PEN = QPen(QColor("#c0392b"), 0)
_TILE_BRUSH = QBrush(QColor(46, 160, 67, 110))


@dataclass(frozen=True)
class EarlierScan:
    """A finished scan of the same slide: its folder, where its mosaic lies, the image."""

    folder: Path
    bounds_mm: tuple[float, float, float, float]  #: x0, y0, x1, y1 of the planned region
    image: np.ndarray  #: uint8 gray, rows along y


def _smallest_level(path: Path, max_side: int) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        levels = tif.series[0].levels
        level = next((lv for lv in levels if max(lv.shape[:2]) <= max_side), levels[-1])
        img = np.asarray(level.asarray())
    img = (img if img.ndim == 2 else img[..., 0]).astype(np.float32)
    step = max(1, int(np.ceil(max(img.shape) / max_side)))
    if step == 1:
        return img
    rows, cols = img.shape[0] // step * step, img.shape[1] // step * step
    # block means, not every step-th pixel: a strided thumbnail of cells is noise
    blocks = img[:rows, :cols].reshape(rows // step, step, cols // step, step)
    out: np.ndarray = blocks.mean(axis=(1, 3))
    return out


def _to_u8(img: np.ndarray) -> np.ndarray:
    g = img.astype(np.float32)
    finite = g[np.isfinite(g) & (g > 0)]  # glass never scanned is 0
    if finite.size == 0:
        return np.zeros(g.shape, np.uint8)
    lo, hi = np.percentile(finite, [1, 99.5])
    out: np.ndarray = (np.clip((g - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)
    return out


def read_earlier_scan(folder: Path, max_side: int = EARLIER_MOSAIC_PX) -> EarlierScan | None:
    """The stage mosaic of a scan folder placed by its manifest's planned region (the frame
    of the stage mosaic); None when the folder has no manifest or no mosaic yet."""
    import json

    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        x0, y0, x1, y1 = (float(v) for v in manifest["plan"]["bounds_mm"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    mosaics = sorted((folder / "mosaic").glob("mosaic_*.ome.tif"))
    if not mosaics:
        return None
    try:
        image = _to_u8(_smallest_level(mosaics[0], max_side))
    except (OSError, ValueError, IndexError):
        return None  # a damaged mosaic is left off the map, never fatal
    return EarlierScan(folder, (x0, y0, x1, y1), image)


def earlier_scans(root: Path, slide_id: str, exclude: Path | None = None) -> list[EarlierScan]:
    """The scans in ``root`` whose sample has ``slide_id`` (none without a slide id)."""
    from uvscope.gui.worklist import list_scans

    if not slide_id.strip() or not root.is_dir():
        return []
    skip = exclude.resolve() if exclude is not None else None
    out = []
    for entry in list_scans(root):
        if entry.slide_id != slide_id or entry.folder.resolve() == skip:
            continue
        scan = read_earlier_scan(entry.folder)
        if scan is not None:
            out.append(scan)
    return out


def smear_rect_mm(rig: RigConfig) -> tuple[float, float, float, float] | None:
    """The smear's outline (x0, y0, x1, y1) where the rig knows it: the simulated slide
    (the same outline a target-count scan grows inside)."""
    return smear_mm(rig)


class _StageBox(pg.ViewBox):  # type: ignore[misc]
    """Left drag draws a region, a left click asks to move; the wheel zooms, the other
    buttons pan as in every pyqtgraph view."""

    def __init__(self, overview: SlideOverview) -> None:
        super().__init__(invertY=True, lockAspect=True)
        self.overview = overview

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802 - Qt's name
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        a = self.mapSceneToView(ev.buttonDownScenePos())
        b = self.mapSceneToView(ev.scenePos())
        self.overview.drag_to(a, b, finished=ev.isFinish())

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 - Qt's name
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseClickEvent(ev)
            return
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        self.overview.move_requested.emit(float(p.x()), float(p.y()))


def _rect_item(pen: QPen, brush: QBrush | None = None) -> QGraphicsRectItem:
    item = QGraphicsRectItem()
    item.setPen(pen)
    if brush is not None:
        item.setBrush(brush)
    item.setVisible(False)
    return item


def _rect(x0: float, y0: float, x1: float, y1: float) -> QRectF:
    return QRectF(QPointF(min(x0, x1), min(y0, y1)), QPointF(max(x0, x1), max(y0, y1)))


class SlideOverview(QWidget):
    """The map; the window feeds it (limits, smear, plan, tiles, position, earlier scans)."""

    #: x0, y0, x1, y1 (mm) of a region dragged on the map
    region_drawn = Signal(float, float, float, float)
    #: (x_mm, y_mm) clicked: the window asks, checks the soft limits, then moves
    move_requested = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box = _StageBox(self)
        self.plot = pg.PlotWidget(viewBox=self.box)
        self.plot.setBackground("w")
        self.plot.setLabel("bottom", "stage x", units="mm")
        self.plot.setLabel("left", "stage y", units="mm")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.limits_mm: tuple[float, float, float, float] | None = None
        self.fov_mm = (0.0, 0.0)
        self.tiles_mm: list[tuple[float, float]] = []
        self.plan_bounds_mm: tuple[float, float, float, float] | None = None
        self.start_mm: tuple[float, float] | None = None
        self.position_mm: tuple[float, float] | None = None
        self.earlier: list[tuple[EarlierScan, pg.ImageItem]] = []
        self.limits_item = _rect_item(_LIMITS_PEN)
        self.slide_item = _rect_item(_SLIDE_PEN, QBrush(QColor(230, 215, 190, 60)))
        self.plan_item = _rect_item(_PLAN_PEN, QBrush(QColor(31, 95, 191, 25)))
        self.drag_item = _rect_item(_DRAG_PEN)
        self.field_item = _rect_item(QPen(_FIELD_PEN.color(), 0), QBrush(QColor(192, 57, 43, 90)))
        self.tiles_item = QGraphicsPathItem()
        self.tiles_item.setBrush(_TILE_BRUSH)
        self.tiles_item.setPen(QPen(Qt.PenStyle.NoPen))
        self._tiles_path = self._new_path()
        self.start_item = pg.ScatterPlotItem(size=12, symbol="star", brush="#2e7d32", pen="k")
        self.here_item = pg.ScatterPlotItem(size=9, symbol="+", brush="#c0392b", pen="#c0392b")
        for z, item in enumerate(
            (
                self.limits_item,
                self.slide_item,
                self.plan_item,
                self.tiles_item,
                self.field_item,
                self.drag_item,
                self.start_item,
                self.here_item,
            )
        ):
            item.setZValue(10 + z)
            self.box.addItem(item)
        self.legend = QLabel(
            "Drag: draw the scan region. Click: move the stage there (asks first). Wheel: "
            "zoom; right or middle drag: pan."
        )
        self.legend.setWordWrap(True)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        fit = QPushButton("Whole stage")
        fit.setToolTip("Show the whole stage (its soft limits)")
        fit.clicked.connect(self.show_all)
        top = QHBoxLayout()
        top.addWidget(self.legend, 1)
        top.addWidget(fit)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.info)
        self._key = QLabel(
            '<span style="color:#777">- - soft limits</span> &nbsp; '
            '<span style="color:#b07d2b">&#9632; smear</span> &nbsp; '
            '<span style="color:#1f5fbf">&#9633; planned region</span> &nbsp; '
            '<span style="color:#2e7d32">&#9733; start</span> &nbsp; '
            '<span style="color:#2ea043">&#9632; tiles scanned</span> &nbsp; '
            '<span style="color:#c0392b">&#9632; current field</span> &nbsp; '
            "gray: earlier scans of this slide"
        )
        lay.addWidget(self._key)

    # ------------------------------------------------------------------ what the map holds
    def configure(self, rig: RigConfig, fov_mm: tuple[float, float]) -> None:
        """The stage's soft limits, the smear (simulated rig) and the camera's field."""
        (x0, x1), (y0, y1) = rig.stage.x_limits_mm, rig.stage.y_limits_mm
        self.limits_mm = (x0, y0, x1, y1)
        self.limits_item.setRect(_rect(x0, y0, x1, y1))
        self.limits_item.setVisible(True)
        smear = smear_rect_mm(rig)
        self.slide_item.setVisible(smear is not None)
        if smear is not None:
            self.slide_item.setRect(_rect(*smear))
        self.fov_mm = fov_mm
        self.show_all()

    def show_all(self) -> None:
        if self.limits_mm is not None:
            x0, y0, x1, y1 = self.limits_mm
            self.box.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0.03)

    def set_plan(
        self, bounds_mm: tuple[float, float, float, float] | None, start_mm: tuple[float, float]
    ) -> None:
        """The region the set-up would scan (None: the set-up has no valid region) and the
        centre of its first tile."""
        self.plan_bounds_mm = bounds_mm
        self.start_mm = start_mm if bounds_mm is not None else None
        self.plan_item.setVisible(bounds_mm is not None)
        if bounds_mm is not None:
            self.plan_item.setRect(_rect(*bounds_mm))
            self.start_item.setData([start_mm[0]], [start_mm[1]])
        else:
            self.start_item.setData([], [])

    def add_tile(self, x_mm: float, y_mm: float) -> None:
        """A tile scanned at this stage centre (its field drawn filled)."""
        fx, fy = self.fov_mm
        self.tiles_mm.append((x_mm, y_mm))
        self._tiles_path.addRect(QRectF(x_mm - fx / 2, y_mm - fy / 2, fx, fy))
        self.tiles_item.setPath(self._tiles_path)

    @staticmethod
    def _new_path() -> QPainterPath:
        path = QPainterPath()
        path.setFillRule(Qt.FillRule.WindingFill)  # overlapping tiles stay filled
        return path

    def clear_tiles(self) -> None:
        self.tiles_mm = []
        self._tiles_path = self._new_path()
        self.tiles_item.setPath(self._tiles_path)

    def set_position(self, x_mm: float, y_mm: float) -> None:
        """The stage's position (polled, or the tile being scanned): its camera field."""
        self.position_mm = (x_mm, y_mm)
        fx, fy = self.fov_mm
        self.field_item.setRect(QRectF(x_mm - fx / 2, y_mm - fy / 2, fx, fy))
        self.field_item.setVisible(True)
        self.here_item.setData([x_mm], [y_mm])
        self.info.setText(f"stage at x {x_mm:.3f} mm, y {y_mm:.3f} mm")

    def set_earlier(self, scans: list[EarlierScan]) -> None:
        """Earlier scans of the slide, each stage mosaic drawn over its region."""
        for _, item in self.earlier:
            self.box.removeItem(item)
        self.earlier = []
        for scan in scans:
            item = pg.ImageItem(scan.image.T)  # pyqtgraph images are (x, y)
            x0, y0, x1, y1 = scan.bounds_mm
            item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            item.setZValue(5)
            item.setOpacity(0.85)
            self.box.addItem(item)
            self.earlier.append((scan, item))

    # ------------------------------------------------------------------ the mouse
    def drag_to(self, a: QPointF, b: QPointF, finished: bool) -> None:
        """A left drag from ``a`` to ``b`` (mm): drawn as it goes; at its end a region
        (clipped to the soft limits) goes to the set-up, unless it is too small."""
        x0, y0, x1, y1 = (
            min(a.x(), b.x()),
            min(a.y(), b.y()),
            max(a.x(), b.x()),
            max(a.y(), b.y()),
        )
        if self.limits_mm is not None:
            lx0, ly0, lx1, ly1 = self.limits_mm
            x0, x1 = max(x0, lx0), min(x1, lx1)
            y0, y1 = max(y0, ly0), min(y1, ly1)
        self.drag_item.setRect(_rect(x0, y0, x1, y1))
        self.drag_item.setVisible(not finished)
        if finished and x1 - x0 >= MIN_REGION_MM and y1 - y0 >= MIN_REGION_MM:
            self.region_drawn.emit(x0, y0, x1, y1)
