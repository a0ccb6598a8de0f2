"""A stand-in analysis sink with the pipeline's event shape, for GUI wiring tests.

The GUI tests check that results reach the widgets and that review works; the analysis
itself is tested in tests/analysis. Each tile gets two square "cells" whose classes cycle.
"""

from __future__ import annotations

import itertools

import numpy as np
from psygnal import Signal, SignalGroup

from uvscope.acquisition.tiles import Tile
from uvscope.gui.results import (
    WBC_CLASSES,
    CellRow,
    Differential,
    TileResult,
    differential_from_labels,
)


class AnalysisEvents(SignalGroup):
    tile_analysed = Signal(object)
    differential_changed = Signal(object)


class FakeAnalysisSink:
    lossless = True

    def __init__(self) -> None:
        self.events = AnalysisEvents()
        self.labels: list[str] = []
        self._ids = itertools.count()
        self._classes = itertools.cycle(WBC_CLASSES)
        self.closed = False

    def put(self, tile: Tile) -> None:
        h, w = tile.shape
        labels = np.zeros((h, w), np.int32)
        stained = np.zeros((h, w, 3), np.uint8)
        stained[...] = (230, 200, 220)
        cells = []
        for k, (r, c) in enumerate(((h // 4, w // 4), (h // 2, w // 2)), start=1):
            s = max(4, min(h, w) // 8)
            labels[r - s : r + s, c - s : c + s] = k
            stained[r - s : r + s, c - s : c + s] = (120, 40, 140)
            cls = next(self._classes)
            x = tile.x_mm * 1e3 + (c - (w - 1) / 2) * tile.pixel_size_um
            y = tile.y_mm * 1e3 + (r - (h - 1) / 2) * tile.pixel_size_um
            cells.append(
                CellRow(
                    f"t{tile.index}c{next(self._ids)}",
                    tile.index,
                    cls,
                    {cls: 0.8},
                    x,
                    y,
                    (r - s, c - s, r + s, c + s),
                    k,
                )
            )
            self.labels.append(cls)
        self.events.tile_analysed.emit(TileResult(tile.index, stained, labels, cells))
        self.events.differential_changed.emit(differential_from_labels(self.labels))

    def close(self) -> None:
        self.closed = True


def differential_of(sink: FakeAnalysisSink) -> Differential:
    return differential_from_labels(sink.labels)
