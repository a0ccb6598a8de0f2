"""Counting each cell once across overlapping tiles.

Every point of the slide belongs to the core of the tile whose planned centre is nearest (on a
grid that is the overlap split at the midline between neighbouring centres; the outermost cores
reach to the scan's border). A tile counts a cell when the cell's global centroid lies in its
core and the cell does not touch an edge of the tile that another tile covers: such a cell is
whole in that neighbour, and (with overlap wider than a cell) its centroid lies in the
neighbour's core. Cells cut by the scan's outer border are partial everywhere; they are counted
only when asked to. The rule uses planned centres, so it needs no knowledge of tiles to come.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from uvscope.acquisition.tiles import TileSpec

SIDES = ("top", "bottom", "left", "right")  # top = row 0 = smaller stage y; left = smaller x


class CoreRegions:
    """Which tile owns a point, and which of a tile's edges are shared with a neighbour."""

    def __init__(
        self,
        specs: Sequence[TileSpec],
        shape: tuple[int, int],
        pixel_size_um: float,
        keep_outer_border_cells: bool = False,
    ) -> None:
        if not specs:
            raise ValueError("CoreRegions needs the planned tiles of the scan")
        self.specs = {s.index: s for s in specs}
        self.indices = np.array([s.index for s in specs])
        self.centres = np.array([(s.x_mm, s.y_mm) for s in specs], dtype=np.float64)
        self.half_mm = (
            shape[1] * pixel_size_um * 1e-3 / 2.0,
            shape[0] * pixel_size_um * 1e-3 / 2.0,
        )
        self.keep_outer = keep_outer_border_cells
        self._inner: dict[int, dict[str, bool]] = {}

    def owner(self, x_mm: float, y_mm: float) -> int:
        """The tile whose core holds the point: nearest planned centre, ties to the lower index."""
        d = (self.centres[:, 0] - x_mm) ** 2 + (self.centres[:, 1] - y_mm) ** 2
        return int(self.indices[int(np.argmin(d))])

    def _covered(self, index: int, x_mm: float, y_mm: float) -> bool:
        hx, hy = self.half_mm
        others = self.indices != index
        c = self.centres[others]
        return bool(np.any((np.abs(c[:, 0] - x_mm) < hx) & (np.abs(c[:, 1] - y_mm) < hy)))

    def inner_edges(self, index: int) -> dict[str, bool]:
        """For each side of a tile, whether another planned tile covers the area just beyond it."""
        if index not in self._inner:
            s = self.specs[index]
            hx, hy = self.half_mm
            eps = 1e-6
            along = np.linspace(-0.9, 0.9, 7)
            probes = {
                "top": [(s.x_mm + a * hx, s.y_mm - hy - eps) for a in along],
                "bottom": [(s.x_mm + a * hx, s.y_mm + hy + eps) for a in along],
                "left": [(s.x_mm - hx - eps, s.y_mm + a * hy) for a in along],
                "right": [(s.x_mm + hx + eps, s.y_mm + a * hy) for a in along],
            }
            self._inner[index] = {
                side: any(self._covered(index, x, y) for x, y in pts)
                for side, pts in probes.items()
            }
        return self._inner[index]

    def counts_here(self, index: int, x_mm: float, y_mm: float, touches: dict[str, bool]) -> bool:
        """Whether tile ``index`` counts a cell at global (x, y) touching the given sides."""
        if self.owner(x_mm, y_mm) != index:
            return False
        inner = self.inner_edges(index)
        for side in SIDES:
            if touches.get(side, False) and (inner[side] or not self.keep_outer):
                return False
        return True


def touched_sides(bbox: tuple[int, int, int, int], shape: tuple[int, int]) -> dict[str, bool]:
    """Sides of a tile that a region's bounding box (min_row, min_col, max_row, max_col) touches."""
    r0, c0, r1, c1 = bbox
    h, w = shape
    return {"top": r0 <= 0, "left": c0 <= 0, "bottom": r1 >= h, "right": c1 >= w}
