"""The scan's stage mosaics as a tile sink: drawn in as each tile is saved, finished at close.

One of the scan's lossless sinks (a ``FolderProduct`` of ``uvscope.acquisition.tiles``),
made by whoever wires the scan (``prepare_scan``), never by the folder or the engine. The
engine opens it on the scan folder at the first tile; it gets each tile from the writer's
thread once the tile is on disk and draws it into the per-wavelength stage mosaics
(``StageMosaics``), so ``close()``, after the analysis has drained, has only the last bands
and the file copies left (``write_stage_mosaics``). An interrupted or failed scan
``abort()``s it: ``--resume`` draws the mosaics at its end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Protocol

import numpy as np

from uvscope.errors import ScanError
from uvscope.io.mosaic import StageMosaics, write_stage_mosaics
from uvscope.io.scanfolder import ScanFolder


class SavedTile(Protocol):
    """What the sink reads of a saved tile (``uvscope.acquisition.tiles.Tile`` is one)."""

    @property
    def index(self) -> int: ...
    @property
    def x_mm(self) -> float: ...
    @property
    def y_mm(self) -> float: ...
    @property
    def normalised(self) -> Mapping[int, np.ndarray]: ...


class StageMosaicSink:
    """``put`` draws a saved tile in (best effort); ``close`` writes the mosaic files."""

    #: tiles come from the writer's thread once on disk, never one the scan did not save
    lossless = True

    def __init__(self, folder: ScanFolder | None = None) -> None:
        #: the scan folder (given by ``open`` when the scan has made it)
        self.folder = folder
        #: the mosaics being drawn (made at the first tile from the manifest's plan)
        self.live: StageMosaics | None = None
        self._started = False
        self._aborted = False

    def open(self, folder: ScanFolder) -> None:
        """The scan's folder, once the scan has made it (at its first tile)."""
        self.folder = folder

    def _opened(self) -> ScanFolder:
        if self.folder is None:
            raise ScanError("the stage-mosaic sink was given a tile before its scan folder")
        return self.folder

    def put(self, tile: SavedTile) -> None:
        for nm, image in tile.normalised.items():
            self._push(tile.index, nm, image, tile.x_mm, tile.y_mm)

    def _push(self, index: int, nm: int, image: np.ndarray, x_mm: float, y_mm: float) -> None:
        """On any failure the drawing is dropped and ``close`` builds the mosaics in one go
        (the tile itself is saved)."""
        if self._aborted:
            return
        folder = self._opened()
        try:
            if self.live is None and not self._started:
                self._started = True
                self.live = StageMosaics.for_folder(folder, image.shape[:2])
            if self.live is not None:
                self.live.push(index, nm, image, x_mm, y_mm)
        except Exception as err:  # noqa: BLE001 - the tile is saved; the mosaic comes at the end
            if self.live is not None:
                self.live.abort()
            self.live = None
            with contextlib.suppress(Exception):
                folder.log_event("stage-mosaic", f"stage mosaic left to the end of the scan: {err}")

    def close(self) -> None:
        """Finish the mosaic files (tiles never drawn in, e.g. a resumed scan's earlier ones,
        are read back); nothing after ``abort``."""
        if self._aborted:
            return
        folder = self._opened()
        self._aborted = True  # a tile saved from now on is not drawn
        folder.update_manifest(status="writing-mosaic")
        live, self.live = self.live, None
        write_stage_mosaics(folder, live=live)

    def abort(self) -> None:
        """Drop the drawing: the scan ended early and writes no mosaic now."""
        self._aborted = True
        if self.live is not None:
            self.live.abort()
        self.live = None
