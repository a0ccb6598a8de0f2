"""The GUI draws the analysis's own results: one view, whichever way they arrive.

A differential reaches the window three ways (the live analysis's ``Differential``, a stored
scan's ``differential.json``, a reviewer's labels) and a cell two (the live ``CellRecord``, a
stored ``cells.csv`` row); the views of each must be equal, counted by the analysis.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from scipy import ndimage

from uvscope.acquisition.tiles import TileSpec
from uvscope.analysis.cells import CellRecord
from uvscope.analysis.differential import DifferentialCounter
from uvscope.analysis.pipeline import TileResult
from uvscope.classes import DEAD
from uvscope.gui.analysis_adapter import display_cell, display_tile, to_differential
from uvscope.gui.results import differential_from_labels
from uvscope.gui.stored_scan import cell_row, differential_of

LABELS = (
    ["neutrophil"] * 41
    + ["lymphocyte"] * 27
    + ["monocyte"] * 6
    + ["eosinophil"] * 3
    + ["basophil"]
    + ["band_neutrophil"] * 4
    + ["blast"] * 2
    + ["nrbc"] * 3
    + ["smudge"] * 2
    + [DEAD] * 5
)


def test_live_stored_and_reviewed_differentials_read_the_same() -> None:
    counter = DifferentialCounter()
    for lab in LABELS:
        counter.add(lab, dead=lab == DEAD)
    live = to_differential(counter.snapshot())
    stored = differential_of(json.loads(json.dumps(counter.snapshot().to_dict())))
    reviewed = differential_from_labels([*LABELS, "artefact", "unidentified"])
    assert live == stored
    assert live.total == counter.healthy == 84 and live.dead == 5
    assert live.percentages["neutrophil"] == pytest.approx(100 * 41 / 84)
    assert live.preclasses == {"band_neutrophil": 4, "blast": 2}
    for field in ("counts", "percentages", "ci95", "dead"):
        assert getattr(reviewed, field) == getattr(live, field), field
    # the reviewer's view lists the cells outside the 100 % too, as it always has
    assert reviewed.preclasses == {**live.preclasses, "nrbc": 3, "smudge": 2}


def _record(cell_id: str, label: int, row: float, col: float, **kw: object) -> CellRecord:
    values: dict[str, object] = {
        "cell_id": cell_id,
        "tile": 7,
        "label": label,
        "x_um": 1234.5 + col,
        "y_um": 678.25 + row,
        "row": row,
        "col": col,
        "cell_class": "monocyte",
        "dead": False,
        "p_dead": 0.125,
        "p_neutrophil": 0.1,
        "p_eosinophil": 0.05,
        "p_basophil": 0.05,
        "p_lymphocyte": 0.1,
        "p_monocyte": 0.7,
        "cell_area_um2": 80.0,
        "nucleus_area_um2": 30.0,
        "mean_260": 0.5,
        "mean_280": 0.6,
        "mean_300": 0.7,
        "euler_number": 1,
        "touches_edge": False,
        "counted": True,
    }
    values.update(kw)
    return CellRecord(**values)  # type: ignore[arg-type]


def test_a_tile_shows_its_counted_cells_boxed_as_cells_csv_reads_back() -> None:
    labels = np.zeros((64, 80), np.int32)
    labels[10:21, 30:45] = 1
    labels[40:50, 5:12] = 2
    cells = [
        _record("t7c1", 1, 15.2, 37.0),
        _record("t7c2", 2, 44.5, 8.0, dead=True, cell_class=DEAD, p_dead=0.9),
        _record("t7c3", 3, 30.0, 60.0, counted=False),  # a duplicate, counted next door
        _record("t7c4", 9, 5.0, 70.0),  # its label gone from the image: 16 px around it
    ]
    spec = TileSpec(7, 1, 2, 10.0, 5.0)
    stained = np.full((64, 80, 3), 200, np.uint8)
    res = TileResult(7, spec, 10.0, 5.0, (64, 80), 0.16, cells, labels, stained=stained)
    view = display_tile(res)
    assert view is not None and view.tile_index == 7 and view.stained is stained
    assert [c.cell_id for c in view.cells] == ["t7c1", "t7c2", "t7c4"]
    assert [c.bbox for c in view.cells] == [(10, 30, 21, 45), (40, 5, 50, 12), (-3, 62, 13, 78)]
    assert [c.cls for c in view.cells] == ["monocyte", DEAD, "monocyte"]
    assert view.cells[0].probabilities["monocyte"] == 0.7
    assert view.cells[1].probabilities[DEAD] == 0.9

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CellRecord.columns())
    writer.writeheader()
    writer.writerows(c.to_row() for c in cells)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    boxes = ndimage.find_objects(labels.astype(np.int64))
    assert [cell_row(r, boxes) for r in rows] == [display_cell(c, boxes) for c in cells]


def test_a_failed_tile_or_one_without_labels_is_not_drawn() -> None:
    spec = TileSpec(0, 0, 0, 0.0, 0.0)
    failed = TileResult(0, spec, 0.0, 0.0, (8, 8), 0.16, failed=True, error="boom")
    assert display_tile(failed) is None
    assert display_tile(TileResult(1, spec, 0.0, 0.0, (8, 8), 0.16)) is None
