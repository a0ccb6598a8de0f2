"""A stand-in analysis sink with the pipeline's event shape, for GUI wiring tests.

The GUI tests check that results reach the widgets and that review works; the analysis
itself is tested in tests/analysis. Each tile gets two square "cells" whose classes cycle.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from psygnal import Signal, SignalGroup

from uvscope.acquisition.tiles import Tile
from uvscope.gui.results import (
    WBC_CLASSES,
    differential_from_labels,
)
from uvscope.gui.results import (
    DisplayCell as CellRow,
)
from uvscope.gui.results import (
    DisplayDifferential as Differential,
)
from uvscope.gui.results import (
    DisplayTile as TileResult,
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


# ----------------------------------------------------------------------------------------
# The same stand-in, shaped like the pipeline's AnalysisSession -> AnalysisWorker objects:
# signal attributes on ``worker``, CellRecord-like cells, a Differential of ClassCount rows,
# and images dropped from the result right after ``tile_analysed`` (as the real worker does).


@dataclass
class _Cell:
    cell_id: str
    tile: int
    label: int
    x_um: float
    y_um: float
    row: float
    col: float
    cell_class: str
    dead: bool
    p_dead: float
    p_neutrophil: float
    counted: bool


@dataclass
class _Result:
    index: int
    cells: list
    labels: object
    stained: object
    gray: object = None
    failed: bool = False


@dataclass(frozen=True)
class _ClassCount:
    name: str
    count: int
    percent: float
    ci_low_percent: float
    ci_high_percent: float


@dataclass(frozen=True)
class _Differential:
    classes: tuple
    healthy: int
    dead: int


class _Worker:
    tile_analysed = Signal(object)
    differential_changed = Signal(object)
    error = Signal(int, str)


class PipelineShapedSink:
    lossless = True

    def __init__(self) -> None:
        self.worker = _Worker()
        self.inner = FakeAnalysisSink()
        self.inner.events.tile_analysed.connect(self._convert)
        self.closed = False

    def put(self, tile: Tile) -> None:
        self.inner.put(tile)

    def _convert(self, r: TileResult) -> None:
        cells = [
            _Cell(
                c.cell_id,
                c.tile_index,
                c.label,
                c.x_um,
                c.y_um,
                (c.bbox[0] + c.bbox[2]) / 2,
                (c.bbox[1] + c.bbox[3]) / 2,
                c.cls,
                False,
                0.01,
                0.5,
                True,
            )
            for c in r.cells
        ]
        # one uncounted duplicate from the overlap, which the gallery must not show
        dup = _Cell("dup", r.tile_index, 1, 0.0, 0.0, 0, 0, "monocyte", False, 0.0, 0.0, False)
        res = _Result(r.tile_index, [*cells, dup], r.labels, r.stained)
        self.worker.tile_analysed.emit(res)
        res.labels = res.stained = None  # the real worker frees them once listeners had them
        d = differential_from_labels(self.inner.labels)
        rows = tuple(_ClassCount(n, d.counts[n], d.percentages[n], *d.ci95[n]) for n in d.counts)
        self.worker.differential_changed.emit(_Differential(rows, d.total, d.dead))

    def close(self) -> None:
        self.closed = True
