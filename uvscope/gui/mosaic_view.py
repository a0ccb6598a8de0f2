"""The scan mosaic: one small image item per tile, placed by stage position, with levels of detail.

A slide scan has hundreds of 1392 x 1040 tiles, far too many pixels for one image. Each tile is
its own ImageItem showing a coarse (1/8) image; when the view is zoomed in, the visible tiles
swap to the level (1/4 or 1/2) that matches the screen's pixels, so zoom and pan stay smooth
however large the mosaic grows. The items never downsample while painting (pyqtgraph's
autoDownsample averages in float on the GUI thread at every zoom: tens of ms per refit).
Scene units are micrometres of stage position; stage y grows downward on screen, as image rows do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QTimer, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QWidget

from uvscope.gui.tile_prep import LEVELS, MODES, MosaicTile

#: at most this many tiles show a finer level than the coarse one at once (bounds memory)
MAX_FINE_TILES = 48
#: side of the square that frames a cell chosen in the gallery (a WBC is 7-20 um across)
MARKER_UM = 26.0
#: a level is used up to this much magnified on screen before the next finer one is taken
MAX_UPSCALE = 1.5


class MosaicView(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped (Any)
    """``add_tile``/``update_tile`` place images; ``set_mode`` picks gray/stained/masks/outlines."""

    tile_added = Signal(int)
    #: (x_mm, y_mm) double-clicked: the window asks, then moves the stage there
    move_requested = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="k")
        self.vb: pg.ViewBox = self.getPlotItem().getViewBox()
        self.vb.invertY(True)
        self.vb.setAspectLocked(True)
        self.setLabel("bottom", "stage x", units="m")
        self.setLabel("left", "stage y", units="m")
        for ax in ("bottom", "left"):
            self.getAxis(ax).setScale(1e-6)  # scene is um, axes read in SI metres (shows mm/um)
        self.mode = "gray"
        self.tiles: dict[int, MosaicTile] = {}
        self.items: dict[int, pg.ImageItem] = {}
        self._shown_level: dict[int, int] = {}
        self._plan_item: QGraphicsPathItem | None = None
        # a hollow square around the chosen cell, in stage um so it frames the cell at any zoom
        # (brush=None would mean pyqtgraph's default fill, hiding the cell)
        self.marker = pg.ScatterPlotItem(
            size=MARKER_UM,
            pxMode=False,
            symbol="s",
            pen=pg.mkPen("y", width=2),
            brush=pg.mkBrush(None),
        )
        self.marker.setZValue(10)
        self.addItem(self.marker)
        self._lod_timer = QTimer(self, singleShot=True, interval=80)
        self._lod_timer.timeout.connect(self._update_lod)
        self.vb.sigRangeChanged.connect(lambda *_: self._lod_timer.start())
        self._auto_range = True
        #: the area kept in view until the operator pans or zooms (re-fitted on resize)
        self._fit: QRectF | None = None
        self.vb.sigRangeChangedManually.connect(self._user_moved)
        self.vb.sigResized.connect(self._refit)
        self.scene().sigMouseClicked.connect(self._on_click)

    # ------------------------------------------------------------------ content
    def clear_tiles(self) -> None:
        for item in self.items.values():
            self.removeItem(item)
        self.tiles.clear()
        self.items.clear()
        self._shown_level.clear()
        self.marker.clear()
        self._auto_range = True
        self._fit = None

    def set_plan(
        self, centres_mm: Sequence[tuple[float, float]], width_um: float, height_um: float
    ) -> None:
        """Outline the planned tiles so the operator sees what is still to come."""
        path = QPainterPath()
        for x, y in centres_mm:
            path.addRect(
                QRectF(x * 1e3 - width_um / 2, y * 1e3 - height_um / 2, width_um, height_um)
            )
        if self._plan_item is not None:
            self.removeItem(self._plan_item)
        item = QGraphicsPathItem(path)
        pen = QPen(QColor(90, 90, 120))
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setZValue(-1)
        self._plan_item = item
        self.addItem(item)
        if centres_mm:
            xs = [c[0] * 1e3 for c in centres_mm]
            ys = [c[1] * 1e3 for c in centres_mm]
            self.fit(
                QRectF(
                    min(xs) - width_um / 2,
                    min(ys) - height_um / 2,
                    max(xs) - min(xs) + width_um,
                    max(ys) - min(ys) + height_um,
                )
            )
            self._auto_range = False

    def add_tile(self, tile: MosaicTile) -> None:
        """Place (or replace) a tile; call on the GUI thread with prepared images."""
        item = self.items.get(tile.index)
        if item is None:
            item = pg.ImageItem(autoDownsample=False)
            # repaints of unchanged tiles are pixmap blits in C++, not Python paint() calls
            # (which, with the scan and analysis threads holding the GIL, cost ms each)
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            self.items[tile.index] = item
            self.addItem(item)
        self.tiles[tile.index] = tile
        self._show(tile.index, LEVELS[0], force=True)
        if self._auto_range and len(self.tiles) == 1:
            self.fit(
                item.mapRectToParent(item.boundingRect()).adjusted(
                    -tile.width_um, -tile.height_um, tile.width_um, tile.height_um
                )
            )
        self._lod_timer.start()
        self.tile_added.emit(tile.index)

    def update_tile(self, index: int, images: dict[str, dict[int, np.ndarray]]) -> None:
        """Add the analysis layers (stained, masks, outlines) of a tile already shown."""
        tile = self.tiles.get(index)
        if tile is None:
            return
        tile.images.update(images)
        if self.mode in images:
            self._show(index, self._shown_level.get(index, LEVELS[0]), force=True)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mosaic mode {mode!r}; choose one of {MODES}")
        self.mode = mode
        for index in self.tiles:
            self._show(index, self._shown_level.get(index, LEVELS[0]), force=True)

    def shown_mode(self, index: int) -> str:
        """The layer a tile actually shows (gray until its analysis layers arrive)."""
        return self.mode if self.mode in self.tiles[index].images else "gray"

    def fit(self, rect: QRectF) -> None:
        """Keep ``rect`` in view (also after resizes) until the operator pans or zooms."""
        self._fit = QRectF(rect)
        self.vb.setRange(rect, padding=0.02)

    def _refit(self) -> None:
        if self._fit is not None:
            self.vb.setRange(self._fit, padding=0.02)

    def _user_moved(self, *_: object) -> None:
        self._fit = None

    def center_on(self, x_um: float, y_um: float, width_um: float = 150.0) -> None:
        """Centre the view on a stage point and mark it (a cell chosen in the gallery)."""
        self.fit(QRectF(x_um - width_um / 2, y_um - width_um / 2, width_um, width_um))
        self.marker.setData([x_um], [y_um])
        self._auto_range = False

    # ------------------------------------------------------------------ levels of detail
    def _show(self, index: int, level: int, force: bool = False) -> None:
        if not force and self._shown_level.get(index) == level:
            return
        tile = self.tiles[index]
        layer = tile.images.get(self.mode) or tile.images["gray"]
        img = layer.get(level, layer[LEVELS[0]])
        item = self.items[index]
        item.setImage(img, levels=(0, 255) if img.ndim == 2 else None, autoLevels=False)
        # the item scales pixels to the rect of the image it had: place it again for this level
        # (a level covers whole blocks only, so it may be a few pixels short of the tile)
        h, w = img.shape[:2]
        full_h, full_w = tile.shape or (h * level, w * level)
        x0 = tile.x_mm * 1e3 - tile.width_um / 2
        y0 = tile.y_mm * 1e3 - tile.height_um / 2
        item.setRect(
            QRectF(x0, y0, tile.width_um * w * level / full_w, tile.height_um * h * level / full_h)
        )
        self._shown_level[index] = level

    def _update_lod(self) -> None:
        if not self.tiles:
            return
        (x0, x1), (y0, y1) = self.vb.viewRange()
        px_w = max(1.0, float(self.vb.width()))
        screen_px_per_um = px_w / max(1e-9, x1 - x0)
        coarse, fine = LEVELS[0], LEVELS[-1]
        visible = []
        for index, t in self.tiles.items():
            cx, cy = t.x_mm * 1e3, t.y_mm * 1e3
            if (
                cx + t.width_um / 2 >= x0
                and cx - t.width_um / 2 <= x1
                and cy + t.height_um / 2 >= y0
                and cy - t.height_um / 2 <= y1
            ):
                visible.append(index)
        level = coarse
        if visible and len(visible) <= MAX_FINE_TILES:
            t = self.tiles[visible[0]]
            full_px_per_um = t.images["gray"][coarse].shape[1] * coarse / t.width_um
            # the coarsest level that is not magnified more than MAX_UPSCALE on screen
            level = next(
                (f for f in LEVELS if full_px_per_um / f * MAX_UPSCALE >= screen_px_per_um), fine
            )
        shown = set(visible)
        for index in self.tiles:
            self._show(index, level if index in shown else coarse)

    def fine_tiles(self) -> list[int]:
        return [i for i, lv in self._shown_level.items() if lv == LEVELS[-1]]

    def _on_click(self, ev: object) -> None:
        """A double click asks to move the stage to that point of the slide."""
        if not getattr(ev, "double", lambda: False)():
            return
        p = self.vb.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
        self.move_requested.emit(p.x() / 1000.0, p.y() / 1000.0)
