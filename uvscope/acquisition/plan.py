"""Scan planning: the tile grid over a region, its order, and the soft-limit check.

The whole plan is checked against the stage's soft limits before anything moves, so a
region out of range is refused up front with a message naming the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from uvscope.acquisition.tiles import TileSpec
from uvscope.config import RegionConfig, ScanConfig, StageConfig
from uvscope.errors import LimitError


@dataclass(frozen=True)
class GridPlan:
    tiles: tuple[TileSpec, ...]
    rows: int
    columns: int
    step_mm: tuple[float, float]
    fov_mm: tuple[float, float]
    bounds_mm: tuple[float, float, float, float]  # x0, y0, x1, y1 of the covered area

    def __len__(self) -> int:
        return len(self.tiles)


#: more tiles along one axis than any stage holds: a region this large is a typo
_MAX_TILES_PER_AXIS = 10**9


def _count(extent: float, fov: float, step: float, name: str) -> int:
    if extent <= fov:
        return 1
    steps = (extent - fov) / step
    if not math.isfinite(steps) or steps > _MAX_TILES_PER_AXIS:
        # int(inf) would be an OverflowError: say what is wrong instead
        raise LimitError(
            f"region {name} of {extent:g} mm needs more than {_MAX_TILES_PER_AXIS} tiles "
            "in a row; give the region's size in mm"
        )
    return int(math.ceil(steps - 1e-9)) + 1


def region_centre_and_counts(
    region: RegionConfig, fov_mm: tuple[float, float], step_mm: tuple[float, float]
) -> tuple[tuple[float, float], int, int]:
    """Grid centre and (rows, columns) that cover ``region``."""
    if region.corners_mm is not None:
        (xa, ya), (xb, yb) = region.corners_mm
        centre = ((xa + xb) / 2, (ya + yb) / 2)
        size, name = (abs(xb - xa), abs(yb - ya)), "corners_mm"
    else:
        assert region.center_mm is not None
        centre = region.center_mm
        if region.rows is not None and region.columns is not None:
            return centre, region.rows, region.columns
        assert region.size_mm is not None
        size, name = region.size_mm, "size_mm"
    cols = _count(size[0], fov_mm[0], step_mm[0], f"{name} width")
    rows = _count(size[1], fov_mm[1], step_mm[1], f"{name} height")
    return centre, rows, cols


def plan_tiles(
    scan: ScanConfig,
    fov_mm: tuple[float, float],
    stage: StageConfig,
    max_tiles: int = 1_000_000,
) -> GridPlan:
    """Tiles covering ``scan.region`` with ``scan.overlap_percent`` overlap, checked against
    the stage soft limits (raises LimitError naming the limit)."""
    ov = scan.overlap_percent / 100.0
    step = (fov_mm[0] * (1 - ov), fov_mm[1] * (1 - ov))
    (cx, cy), rows, cols = region_centre_and_counts(scan.region, fov_mm, step)
    if rows * cols > max_tiles:
        raise LimitError(f"region needs {rows} x {cols} tiles, more than the limit of {max_tiles}")
    x0 = cx - (cols - 1) * step[0] / 2
    y0 = cy - (rows - 1) * step[1] / 2
    specs: list[TileSpec] = []
    for r in range(rows):
        cs = range(cols)
        if scan.order == "serpentine" and r % 2 == 1:
            cs = range(cols - 1, -1, -1)
        for c in cs:
            specs.append(
                TileSpec(len(specs), r, c, x0 + c * step[0], y0 + r * step[1], scan.focus.z_um)
            )
    xs = (x0, x0 + (cols - 1) * step[0])
    ys = (y0, y0 + (rows - 1) * step[1])
    for axis, (lo_t, hi_t), (lo, hi) in (
        ("x", xs, stage.x_limits_mm),
        ("y", ys, stage.y_limits_mm),
    ):
        if lo_t < lo or hi_t > hi:
            raise LimitError(
                f"the scan region needs stage {axis} from {lo_t:.3f} to {hi_t:.3f} mm, outside "
                f"the soft limits stage.{axis}_limits_mm = [{lo}, {hi}]; move or shrink the "
                "region. Nothing was moved."
            )
    bounds = (
        xs[0] - fov_mm[0] / 2,
        ys[0] - fov_mm[1] / 2,
        xs[1] + fov_mm[0] / 2,
        ys[1] + fov_mm[1] / 2,
    )
    return GridPlan(tuple(specs), rows, cols, step, fov_mm, bounds)


def fov_mm(width_px: int, height_px: int, pixel_size_um: float) -> tuple[float, float]:
    return (width_px * pixel_size_um / 1000.0, height_px * pixel_size_um / 1000.0)
