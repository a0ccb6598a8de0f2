"""Count N WBCs: tiles planned in rings growing outward from a start point.

A target-count scan (``[target]`` in a scan file) does not know its region in advance: it
takes ring after ring of overlapping tiles around the start until the analysis's stop rule
(``target.wbc`` healthy WBCs) fires or ``target.max_area_mm2`` is used up. Every ring the
scan may ever reach is planned up front (``ring_plan``), numbered in the order it is taken,
so tile indices and the analysis's overlap rule (which needs every tile's planned centre)
are the same as for a fixed grid; the focus map grows with the rings (``map_lattice``). The
loop gets the tiles ring by ring (``GrowingPlan``), and each ring is written to the
manifest's plan before its first tile is taken, in the plan's usual format, so a reader sees
exactly the tiles handed out so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from uvscope.acquisition.plan import GridPlan, plan_tiles
from uvscope.acquisition.tiles import TileSpec
from uvscope.config import RigConfig, ScanConfig, StageConfig, TargetConfig
from uvscope.errors import LimitError

#: a stage or area this large would plan more rings than any slide holds: a typo
_MAX_RINGS = 2_000

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in mm


@dataclass(frozen=True)
class RingPlan:
    """Every tile a target-count scan may take, in the order taken; ``rings[i]`` is the ring
    (0 = the start tile) of ``grid.tiles[i]``."""

    grid: GridPlan
    rings: tuple[int, ...]
    start_mm: tuple[float, float]
    tile_area_mm2: float

    def ring_ends(self) -> list[int]:
        """For each ring, the count of tiles up to and including it."""
        ends = [i for i in range(1, len(self.rings)) if self.rings[i] != self.rings[i - 1]]
        return [*ends, len(self.rings)]


def smear_mm(rig: RigConfig) -> Rect | None:
    """Where the smear lies on the stage (x0, y0, x1, y1), when known: the simulated slide's
    on a simulated stage; None on a real rig (the stage limits bound a growing scan)."""
    if rig.stage.backend != "sim":
        return None
    (x0, y0), (w, h) = rig.sim.slide_origin_mm, rig.sim.slide_size_mm
    return (x0, y0, x0 + w, y0 + h)


def scan_plan(scan: ScanConfig, fov_mm: tuple[float, float], rig: RigConfig) -> GridPlan:
    """Every tile a scan may take: a target-count scan's rings, else the fixed grid (both
    checked against the soft limits; LimitError names what is wrong)."""
    if scan.target is not None:
        return ring_plan(scan, fov_mm, rig.stage, smear_mm(rig)).grid
    return plan_tiles(scan, fov_mm, rig.stage)


def ring_offsets(ring: int) -> list[tuple[int, int]]:
    """The (column, row) offsets of one ring around the start, walked clockwise so each
    tile is next to the one before: from beside its top-left corner to that corner, which
    is next to the first tile of the ring after it (ring 0 is the start itself)."""
    if ring == 0:
        return [(0, 0)]
    r = ring
    top = [(dx, -r) for dx in range(-r + 1, r + 1)]
    right = [(r, dy) for dy in range(-r + 1, r + 1)]
    bottom = [(dx, r) for dx in range(r - 1, -r - 1, -1)]
    left = [(-r, dy) for dy in range(r - 1, -r - 1, -1)]
    return top + right + bottom + left


def start_point(scan: ScanConfig, target: TargetConfig) -> tuple[float, float]:
    """The first tile's centre: ``target.start_mm``, else the centre of ``scan.region``."""
    if target.start_mm is not None:
        return target.start_mm
    region = scan.region
    if region.corners_mm is not None:
        (xa, ya), (xb, yb) = region.corners_mm
        return ((xa + xb) / 2, (ya + yb) / 2)
    assert region.center_mm is not None  # RegionConfig holds corners or a centre
    return region.center_mm


def _inside(x: float, y: float, rect: Rect) -> bool:
    return rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3]


def ring_plan(
    scan: ScanConfig,
    fov_mm: tuple[float, float],
    stage: StageConfig,
    smear_mm: Rect | None = None,
) -> RingPlan:
    """Every tile of ``scan.target`` in ring order: centres inside the stage soft limits (and
    inside ``smear_mm`` when the smear's place is known), at most ``max_area_mm2`` of new
    area (a tile adds its step area). Raises LimitError when the start is outside them."""
    target = scan.target
    if target is None:
        raise LimitError("this scan has no [target]: plan it as a fixed region")
    ov = scan.overlap_percent / 100.0
    step = (fov_mm[0] * (1 - ov), fov_mm[1] * (1 - ov))
    tile_area = step[0] * step[1]
    sx, sy = start_point(scan, target)
    limits = (stage.x_limits_mm[0], stage.y_limits_mm[0])
    limits_rect = (*limits, stage.x_limits_mm[1], stage.y_limits_mm[1])
    allowed = [limits_rect] + ([smear_mm] if smear_mm is not None else [])
    for rect, what in zip(allowed, ("the stage soft limits", "the smear"), strict=False):
        if not _inside(sx, sy, rect):
            raise LimitError(
                f"target.start_mm ({sx:.3f}, {sy:.3f}) is outside {what} "
                f"(x {rect[0]:g} to {rect[2]:g}, y {rect[1]:g} to {rect[3]:g} mm); "
                "give a start point on the slide. Nothing was moved."
            )
    n_max = max(1, math.floor(target.max_area_mm2 / tile_area + 1e-9))
    cells: list[tuple[int, int, int]] = []  # dx, dy, ring
    ring = 0
    while len(cells) < n_max and ring <= _MAX_RINGS:
        kept = [
            (dx, dy, ring)
            for dx, dy in ring_offsets(ring)
            if all(_inside(sx + dx * step[0], sy + dy * step[1], r) for r in allowed)
        ]
        if not kept and ring > 0:
            break  # the whole ring is off the slide: none further out can be on it
        cells.extend(kept[: n_max - len(cells)])
        ring += 1
    return _as_plan(cells, (sx, sy), step, fov_mm, tile_area, scan.focus.z_um)


def _as_plan(
    cells: Sequence[tuple[int, int, int]],
    start: tuple[float, float],
    step: tuple[float, float],
    fov: tuple[float, float],
    tile_area: float,
    z_um: float | None,
) -> RingPlan:
    """Grid rows and columns from 0 over the rings' extent, tiles numbered in ring order."""
    dx0 = min(c[0] for c in cells)
    dy0 = min(c[1] for c in cells)
    specs = tuple(
        TileSpec(i, dy - dy0, dx - dx0, start[0] + dx * step[0], start[1] + dy * step[1], z_um)
        for i, (dx, dy, _ring) in enumerate(cells)
    )
    rows = max(c[1] for c in cells) - dy0 + 1
    columns = max(c[0] for c in cells) - dx0 + 1
    grid = GridPlan(specs, rows, columns, step, fov, tiles_bounds(specs, fov))
    return RingPlan(grid, tuple(c[2] for c in cells), start, tile_area)


def tiles_bounds(specs: Sequence[TileSpec], fov_mm: tuple[float, float]) -> Rect:
    """x0, y0, x1, y1 of the area the tiles cover."""
    xs = [s.x_mm for s in specs]
    ys = [s.y_mm for s in specs]
    hx, hy = fov_mm[0] / 2, fov_mm[1] / 2
    return (min(xs) - hx, min(ys) - hy, max(xs) + hx, max(ys) + hy)


def grown_plan_entry(plan_entry: dict[str, Any], specs: Sequence[TileSpec]) -> dict[str, Any]:
    """The manifest's ``plan`` with exactly ``specs`` (the tiles handed out so far): the same
    keys and format as a fixed grid's plan, its tile count, bounds and positions updated."""
    fov = (float(plan_entry["fov_mm"][0]), float(plan_entry["fov_mm"][1]))
    return {
        **plan_entry,
        "tiles": len(specs),
        "bounds_mm": tiles_bounds(specs, fov) if specs else plan_entry["bounds_mm"],
        "positions": [[t.index, t.row, t.col, t.x_mm, t.y_mm] for t in specs],
    }


class GrowingPlan:
    """A ``steps.PlanSource`` that hands out a ``RingPlan`` one ring at a time.

    ``record`` is called with every tile handed out so far before the loop gets a new ring
    (the engine writes them to the manifest's plan). ``handed``: tiles an interrupted scan
    already recorded (a resume); those not in ``done`` are handed out again first.
    """

    def __init__(
        self,
        rings: RingPlan,
        record: Callable[[Sequence[TileSpec]], None],
        handed: int = 0,
        done: Sequence[int] = (),
    ) -> None:
        self.rings = rings
        self._record = record
        self._ends = [e for e in rings.ring_ends() if e > handed]
        self._handed = handed
        self._again = [t for t in rings.grid.tiles[:handed] if t.index not in set(done)]

    @property
    def handed(self) -> int:
        """Tiles handed out so far (the manifest's plan holds as many)."""
        return self._handed

    def first_count(self) -> int:
        """How many tiles the first ``next_tiles`` hands out (the loop's progress counts
        them as the plan; each later ring is added as it is handed out)."""
        return len(self.first_tiles())

    def first_tiles(self) -> list[TileSpec]:
        """The tiles the first ``next_tiles`` hands out (the focus map covers them)."""
        end = self._ends[0] if self._ends else self._handed
        return [*self._again, *self.rings.grid.tiles[self._handed : end]]

    def next_tiles(self) -> Sequence[TileSpec]:
        """The next ring (after a resume's recorded tiles not yet done); empty when the
        area is used up."""
        tiles = self.rings.grid.tiles
        todo, self._again = self._again, []
        if self._ends:
            end = self._ends.pop(0)
            todo = [*todo, *tiles[self._handed : end]]
            self._handed = end
            self._record(tiles[:end])
        return todo
