"""Small overlapping grids of simulated tiles analysed by the smear step, with their truth:
shared by the red-cell and platelet tests."""

from __future__ import annotations

from uvscope.acquisition.tiles import TileSpec
from uvscope.analysis.cbc import CbcAccumulator
from uvscope.analysis.dedup import CoreRegions
from uvscope.analysis.evaluate import SimCamera
from uvscope.analysis.evaluate_cbc import truth_in_box
from uvscope.analysis.smear import SmearAnalyser, SmearTile

SHAPE = (520, 696)


def grid(cam: SimCamera, rows: int, cols: int, overlap: float = 0.15) -> list[TileSpec]:
    """Tiles overlapping by ``overlap`` around the smear's centre, row by row."""
    cx, cy = cam.world.smear_centre_mm()
    h, w = SHAPE
    step_x = w * cam.px * (1 - overlap) * 1e-3
    step_y = h * cam.px * (1 - overlap) * 1e-3
    return [
        TileSpec(r * cols + c, r, c, cx + c * step_x, cy + r * step_y)
        for r in range(rows)
        for c in range(cols)
    ]


def analyse_grid(
    cam: SimCamera, specs: list[TileSpec]
) -> tuple[list[SmearTile], list, list, tuple]:
    """Each tile through the smear step (the true white cells given), and the true red cells
    and platelets of the grid's box."""
    cores = CoreRegions(specs, SHAPE, cam.px)
    an = SmearAnalyser()
    out = []
    for spec in specs:
        wbc = cam.world.ground_truth(spec.x_mm, spec.y_mm).cell_labels
        out.append(an.analyse(cam.tile(spec), wbc, cores))
    hx, hy = cam.half_um()
    xs = [s.x_mm * 1e3 for s in specs]
    ys = [s.y_mm * 1e3 for s in specs]
    box = (min(xs) - hx, min(ys) - hy, max(xs) + hx, max(ys) + hy)
    rbcs, plts = truth_in_box(cam.world, box)
    return out, rbcs, plts, box


def cbc_document(tiles: list[SmearTile]) -> dict:
    """The ``cbc.json`` document of the tiles (no red-cell count entered, no background)."""
    acc = CbcAccumulator()
    for t in tiles:
        acc.add(t)
    return acc.document(None, None)
