"""Prepares mosaic images and gallery crops in a worker thread, then hands them to the GUI.

Tiles and analysis results arrive in the engine's and the analysis's threads; this worker
does the numpy work (pyramids, overlays, crops) so the GUI thread only uploads small images.
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from uvscope.acquisition.tiles import Tile
from uvscope.gui.analysis_adapter import display_tile, snapshot
from uvscope.gui.gallery import CellThumb
from uvscope.gui.priority import lower_current_thread
from uvscope.gui.results import DisplayTile
from uvscope.gui.tile_prep import MosaicTile, crop_thumb, pyramid, result_images, to_gray_u8

if TYPE_CHECKING:
    from uvscope.analysis.pipeline import TileResult

#: full-resolution gray tiles kept for crops while the analysis catches up
_GRAY_CACHE = 256


class TileWorker(QObject):
    """``tile_ready(MosaicTile)``, ``result_ready(index, images, thumbs)``, ``failed(str)``."""

    tile_ready = Signal(object)
    result_ready = Signal(int, object, object)
    failed = Signal(str)

    def __init__(self, display_nm: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.display_nm = display_nm
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="uvscope-tiles", initializer=lower_current_thread
        )
        self._gray: OrderedDict[int, np.ndarray] = OrderedDict()
        #: results that arrived before their tile (sinks see a tile before the event fires)
        self._early: dict[int, DisplayTile] = {}

    def put_tile(self, tile: Tile) -> None:
        """Called from the engine thread: queue the tile, return at once."""
        self._pool.submit(self._guard, self._prep_tile, tile)

    def put_result(self, result: object) -> None:
        """Called from the analysis thread (takes the arrays before the worker drops them)."""
        self._pool.submit(self._guard, self._prep_result, snapshot(result))

    def _guard(self, fn, arg) -> None:  # type: ignore[no-untyped-def]
        try:
            fn(arg)
        except Exception as err:  # shown in the window; the scan itself goes on
            self.failed.emit(f"display of a tile failed: {err!r}")

    def _prep_tile(self, tile: Tile) -> None:
        nm = self.display_nm if self.display_nm in tile.normalised else next(iter(tile.normalised))
        gray = to_gray_u8(tile.normalised[nm])
        self._gray[tile.index] = gray
        while len(self._gray) > _GRAY_CACHE:
            self._gray.popitem(last=False)
        h, w = gray.shape
        self.tile_ready.emit(
            MosaicTile(
                index=tile.index,
                x_mm=tile.x_mm,
                y_mm=tile.y_mm,
                width_um=w * tile.pixel_size_um,
                height_um=h * tile.pixel_size_um,
                images={"gray": pyramid(gray)},
                shape=(h, w),
            )
        )
        early = self._early.pop(tile.index, None)
        if early is not None:
            self._prep_result(early)

    def _prep_result(self, res: TileResult | DisplayTile) -> None:
        result = display_tile(res)
        if result is None:
            return
        gray = self._gray.get(result.tile_index)
        if gray is None:
            if len(self._early) < _GRAY_CACHE:
                self._early[result.tile_index] = result  # shown once the tile itself arrives
                return
            gray = result.stained.mean(axis=2).astype(np.uint8)  # evicted: stain only
        images = result_images(gray, result)
        thumbs = [CellThumb(c, crop_thumb(result.stained, gray, c.bbox)) for c in result.cells]
        self.result_ready.emit(result.tile_index, images, thumbs)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
