"""Each cell counted exactly once across overlapping tiles, against a synthetic ground truth."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tests.analysis.conftest import PX_UM, SHAPE
from tests.analysis.synth import SynthCell, fake_models, grid_specs, make_tile, random_slide
from uvscope.analysis.dedup import CoreRegions
from uvscope.analysis.pipeline import TilePipeline
from uvscope.analysis.settings import AnalysisSettings


def _whole_in_scan(c: SynthCell, specs, margin_um: float = 0.5) -> bool:
    hx, hy = SHAPE[1] * PX_UM / 2, SHAPE[0] * PX_UM / 2
    return any(
        abs(c.x_um - s.x_mm * 1e3) <= hx - c.radius_um - margin_um
        and abs(c.y_um - s.y_mm * 1e3) <= hy - c.radius_um - margin_um
        for s in specs
    )


def _scan(settings: AnalysisSettings, seed: int, overlap: float = 0.3):
    specs = grid_specs(2, 3, SHAPE, PX_UM, overlap)
    xs = [s.x_mm * 1e3 for s in specs]
    ys = [s.y_mm * 1e3 for s in specs]
    cells = random_slide(45, (min(xs) - 22, max(xs) + 22), (min(ys) - 17, max(ys) + 17), seed)
    tiles = [make_tile(s, cells, SHAPE, PX_UM) for s in specs]
    cores = CoreRegions(specs, SHAPE, PX_UM, settings.counting.keep_outer_border_cells)
    results = TilePipeline(fake_models(), settings, cores).analyse(tiles)
    return specs, cells, results


@pytest.mark.parametrize("seed", [1, 2])
def test_every_whole_cell_is_counted_once_with_its_class(
    settings: AnalysisSettings, seed: int
) -> None:
    specs, cells, results = _scan(settings, seed)
    counted = [c for r in results for c in r.counted]
    truth = [c for c in cells if _whole_in_scan(c, specs, 0.5)]
    maybe = [c for c in cells if _whole_in_scan(c, specs, -0.5)]  # within a pixel of an edge
    # cells are seen in several tiles but counted in one
    assert sum(len(r.cells) for r in results) > len(counted)
    assert len(truth) <= len(counted) <= len(maybe)
    for c in counted:
        near = [t for t in maybe if np.hypot(c.x_um - t.x_um, c.y_um - t.y_um) < 1.0]
        assert len(near) == 1 and near[0].cls == c.cell_class
    for t in truth:
        near = [c for c in counted if np.hypot(c.x_um - t.x_um, c.y_um - t.y_um) < 1.0]
        assert len(near) == 1, f"cell at {t.x_um:.1f},{t.y_um:.1f} counted {len(near)} times"
    counts = Counter(c.cell_class for c in counted)
    assert Counter(t.cls for t in truth) <= counts <= Counter(t.cls for t in maybe)


def test_cells_cut_by_an_inner_edge_are_taken_from_the_tile_where_they_are_whole(
    settings: AnalysisSettings,
) -> None:
    specs, _, results = _scan(settings, 3)
    for r in results:
        for c in r.counted:
            assert not c.touches_edge
    cut = [c for r in results for c in r.cells if c.touches_edge]
    assert cut, "the synthetic scan should have cells cut by tile edges"


def test_owner_splits_the_overlap_at_the_midline() -> None:
    specs = grid_specs(1, 2, SHAPE, PX_UM, 0.25)
    cores = CoreRegions(specs, SHAPE, PX_UM)
    mid = (specs[0].x_mm + specs[1].x_mm) / 2
    assert cores.owner(mid - 1e-4, specs[0].y_mm) == 0
    assert cores.owner(mid + 1e-4, specs[0].y_mm) == 1
    assert cores.owner(specs[0].x_mm - 5, specs[0].y_mm) == 0  # outer cores reach the border
    assert cores.inner_edges(0) == {"top": False, "bottom": False, "left": False, "right": True}
    assert cores.inner_edges(1)["left"] and not cores.inner_edges(1)["right"]


def test_outer_border_cells_counted_only_when_asked(settings: AnalysisSettings) -> None:
    specs = grid_specs(1, 1, SHAPE, PX_UM, 0.0)
    hx = SHAPE[1] * PX_UM / 2
    cut = SynthCell(specs[0].x_mm * 1e3 + hx - 2.0, specs[0].y_mm * 1e3, "neutrophil")
    inside = SynthCell(specs[0].x_mm * 1e3, specs[0].y_mm * 1e3, "monocyte")
    tiles = [make_tile(specs[0], [cut, inside], SHAPE, PX_UM)]
    for keep, expected in ((False, 1), (True, 2)):
        s = settings.replace(counting={"keep_outer_border_cells": keep})
        cores = CoreRegions(specs, SHAPE, PX_UM, keep)
        res = TilePipeline(fake_models(), s, cores).analyse(tiles)[0]
        assert len(res.counted) == expected
