"""Where a growing scan's focus-map points go: a lattice around the start, grown with the rings.

A target-count scan ("count N WBCs") does not know how far it will go, so its focus map is
not measured over the whole reachable area before the first tile (16 points on the default
25 mm² cap, most of them never needed when the target is reached sooner). Its points sit on
the nodes of a lattice centred on the start tile, ``focus_map.AUTO_POINT_SPACING_MM`` apart
as in the fixed region's automatic grid (``focus_map.auto_map_point_count``): first the 3 x 3 nodes
around the start (the fewest a quadratic surface is fitted through with residuals to spare),
then, each time a new ring leaves the box of nodes measured, the nodes of the bigger box
that holds it. Each node is measured at the reachable tile nearest it, so every map point
is a tile position the planner checked against the soft limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from uvscope.acquisition.tiles import TileSpec

#: node box (i0, j0, i1, j1): lattice columns i0..i1 and rows j0..j1, the start at (0, 0)
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class MapLattice:
    """The lattice of a growing scan's map points (node (i, j) at start + (i, j) x spacing)."""

    start_mm: tuple[float, float]
    spacing_mm: float

    def box_for(self, tiles: Sequence[TileSpec], box: Box | None = None) -> Box:
        """The smallest box of nodes (at least -1..1 either way, and at least ``box``) whose
        extent holds every tile centre: inside it the map interpolates, never extrapolates."""
        sx, sy = self.start_mm
        s = self.spacing_mm
        i0, j0, i1, j1 = box if box is not None else (-1, -1, 1, 1)
        for t in tiles:
            i0 = min(i0, math.floor((t.x_mm - sx) / s + 1e-9))
            i1 = max(i1, math.ceil((t.x_mm - sx) / s - 1e-9))
            j0 = min(j0, math.floor((t.y_mm - sy) / s + 1e-9))
            j1 = max(j1, math.ceil((t.y_mm - sy) / s - 1e-9))
        return (i0, j0, i1, j1)

    def new_nodes(self, box: Box, old: Box | None) -> list[tuple[float, float]]:
        """The (x, y) of the nodes of ``box`` not in ``old`` (all of them without one)."""
        sx, sy = self.start_mm
        s = self.spacing_mm
        i0, j0, i1, j1 = box
        return [
            (sx + i * s, sy + j * s)
            for j in range(j0, j1 + 1)
            for i in range(i0, i1 + 1)
            if old is None or not (old[0] <= i <= old[2] and old[1] <= j <= old[3])
        ]


def nearest_tiles(
    nodes: Sequence[tuple[float, float]], tiles: Sequence[TileSpec], taken: set[int]
) -> list[TileSpec]:
    """For each node, the reachable tile nearest it, each tile once and none in ``taken``
    (a node off the reachable area, cut by the soft limits or the smear's edge, lands on
    the nearest tile there is, unless an earlier point holds it already)."""
    chosen: list[TileSpec] = []
    for x, y in nodes:
        best = min(tiles, key=lambda t: (t.x_mm - x) ** 2 + (t.y_mm - y) ** 2)
        if best.index not in taken:
            taken.add(best.index)
            chosen.append(best)
    return chosen
