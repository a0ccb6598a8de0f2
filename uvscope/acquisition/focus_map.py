"""A focus map: best focus measured at a few points, fitted by a plane or a quadratic surface.

The slide is tilted and slightly bowed, so z for every tile comes from a least-squares surface
through autofocus points instead of one fixed z. The fit's residuals are kept so a user can
see how well the surface describes the slide (residuals well below the ~1.4 um depth of field
mean the map is good enough).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uvscope.acquisition.tiles import TileSpec
from uvscope.errors import ConfigError

#: points needed to fit each surface (and the fallback when there are fewer)
MIN_POINTS = {"constant": 1, "plane": 3, "quadratic": 6}
_FALLBACK = {"quadratic": "plane", "plane": "constant"}


@dataclass(frozen=True)
class FocusPoint:
    x_mm: float
    y_mm: float
    z_um: float
    score: float


def _design(surface: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    one = np.ones_like(x)
    if surface == "constant":
        return one[:, None]
    if surface == "plane":
        return np.stack([one, x, y], axis=1)
    if surface == "quadratic":
        return np.stack([one, x, y, x * x, x * y, y * y], axis=1)
    raise ConfigError(f"focus.surface: unknown surface {surface!r}; use 'plane' or 'quadratic'")


@dataclass
class FocusMap:
    """z(x, y) from a least-squares surface through ``points``; implements ``z_at``.

    Coordinates are centred on the points' mean so the quadratic fit stays well conditioned.
    ``limits_um`` clips every answer to the focus soft limits.
    """

    surface: str
    points: list[FocusPoint]
    limits_um: tuple[float, float] | None = None
    requested_surface: str = ""
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros(1))
    origin_mm: tuple[float, float] = (0.0, 0.0)
    residuals_um: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def fit(
        cls,
        points: Sequence[FocusPoint],
        surface: str = "plane",
        limits_um: tuple[float, float] | None = None,
    ) -> FocusMap:
        """Fit ``surface``, falling back to a simpler one when there are too few points."""
        if surface not in MIN_POINTS:
            _design(surface, np.zeros(1), np.zeros(1))  # raises the ConfigError
        pts = list(points)
        if not pts:
            raise ConfigError(
                "a focus map needs at least one focus point; none was found "
                "(are the map points on blank glass?)"
            )
        used = surface
        while len(pts) < MIN_POINTS[used]:
            used = _FALLBACK[used]
        m = cls(used, pts, limits_um, requested_surface=surface)
        m._solve()
        return m

    def _solve(self) -> None:
        x = np.array([p.x_mm for p in self.points])
        y = np.array([p.y_mm for p in self.points])
        z = np.array([p.z_um for p in self.points])
        self.origin_mm = (float(x.mean()), float(y.mean()))
        a = _design(self.surface, x - self.origin_mm[0], y - self.origin_mm[1])
        self.coefficients, *_ = np.linalg.lstsq(a, z, rcond=None)
        self.residuals_um = z - a @ self.coefficients

    def add_point(self, point: FocusPoint) -> None:
        """Add a point (a re-focus during the scan) and fit again, upgrading the surface
        to the one requested once there are enough points."""
        self.points.append(point)
        if self.requested_surface and len(self.points) >= MIN_POINTS[self.requested_surface]:
            self.surface = self.requested_surface
        self._solve()

    def z_at(self, x_mm: float, y_mm: float) -> float:
        a = _design(
            self.surface, np.array([x_mm - self.origin_mm[0]]), np.array([y_mm - self.origin_mm[1]])
        )
        z = float((a @ self.coefficients)[0])
        if self.limits_um is not None:
            z = min(max(z, self.limits_um[0]), self.limits_um[1])
        return z

    @property
    def rms_residual_um(self) -> float:
        r = self.residuals_um
        return float(math.sqrt((r * r).mean())) if r.size else 0.0

    @property
    def max_residual_um(self) -> float:
        return float(np.abs(self.residuals_um).max()) if self.residuals_um.size else 0.0

    @property
    def reference_score(self) -> float:
        """Median sharpness at the map points: what an in-focus tile of this slide scores."""
        return float(np.median([p.score for p in self.points]))

    def to_dict(self) -> dict[str, Any]:
        """For the manifest (and to rebuild the map on resume)."""
        return {
            "surface": self.surface,
            "requested_surface": self.requested_surface or self.surface,
            "points": [[p.x_mm, p.y_mm, p.z_um, p.score] for p in self.points],
            "coefficients": [float(c) for c in self.coefficients],
            "origin_mm": list(self.origin_mm),
            "residuals_um": [float(r) for r in self.residuals_um],
            "rms_residual_um": self.rms_residual_um,
            "max_residual_um": self.max_residual_um,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], limits_um: tuple[float, float] | None = None) -> FocusMap:
        pts = [FocusPoint(*map(float, p)) for p in d["points"]]
        return cls.fit(pts, d.get("requested_surface", d["surface"]), limits_um)


@dataclass(frozen=True)
class FixedFocus:
    """One z for every tile (``mode = "fixed"`` or ``"autofocus-once"``)."""

    z_um: float
    reference: float | None = None

    def z_at(self, x_mm: float, y_mm: float) -> float:
        return self.z_um


def choose_map_points(tiles: Sequence[TileSpec], n: int) -> list[TileSpec]:
    """``n`` tiles spread over the scan: centre, corners, edge midpoints, then a finer grid.

    Points are real tile positions, so the map is measured where the scan will image and
    every point is already checked against the stage's soft limits by the planner.
    """
    if n >= len(tiles):
        return list(tiles)
    xs = [t.x_mm for t in tiles]
    ys = [t.y_mm for t in tiles]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    fractions = [(0.5, 0.5), (0, 0), (1, 1), (1, 0), (0, 1), (0.5, 0), (0.5, 1), (0, 0.5), (1, 0.5)]
    chosen: list[TileSpec] = []
    k = 4
    while True:
        for fx, fy in fractions:
            tx, ty = x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)
            best = min(tiles, key=lambda t: (t.x_mm - tx) ** 2 + (t.y_mm - ty) ** 2)
            if best not in chosen:
                chosen.append(best)
            if len(chosen) == n:
                return chosen
        # a finer grid (a strip or a small grid repeats tiles): halve the spacing and go on
        fractions = [(i / k, j / k) for i in range(k + 1) for j in range(k + 1)]
        k *= 2


def nearest_neighbour_order(
    points: Sequence[TileSpec], start: tuple[float, float]
) -> list[TileSpec]:
    """Visit the map points along a short path (fewer long stage moves)."""
    left = list(points)
    out: list[TileSpec] = []
    here = start
    while left:
        nxt = min(left, key=lambda t: (t.x_mm - here[0]) ** 2 + (t.y_mm - here[1]) ** 2)
        left.remove(nxt)
        out.append(nxt)
        here = (nxt.x_mm, nxt.y_mm)
    return out


#: largest spacing of automatically placed focus-map points (mm)
AUTO_POINT_SPACING_MM = 2.0


def auto_map_point_count(tiles: Sequence[TileSpec]) -> tuple[int, int]:
    """(columns, rows) of map points for ``map_points = "auto"``: at least 3 x 3 and at most
    ``AUTO_POINT_SPACING_MM`` apart, each side capped by the tiles there are.

    3 x 3 determines a quadratic surface with residuals to spare (the slide is tilted and
    bowed); denser grids follow a real slide's unevenness over a large region.
    """
    xs = sorted({round(t.x_mm, 6) for t in tiles})
    ys = sorted({round(t.y_mm, 6) for t in tiles})
    nx = max(3, math.ceil((xs[-1] - xs[0]) / AUTO_POINT_SPACING_MM) + 1)
    ny = max(3, math.ceil((ys[-1] - ys[0]) / AUTO_POINT_SPACING_MM) + 1)
    return min(nx, len(xs)), min(ny, len(ys))


def grid_map_points(tiles: Sequence[TileSpec], columns: int, rows: int) -> list[TileSpec]:
    """The tile nearest each node of a ``columns`` x ``rows`` grid over the scan (corners
    included), each tile once."""
    xs = [t.x_mm for t in tiles]
    ys = [t.y_mm for t in tiles]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    chosen: list[TileSpec] = []
    for j in range(rows):
        for i in range(columns):
            tx = x0 + (x1 - x0) * (i / (columns - 1) if columns > 1 else 0.5)
            ty = y0 + (y1 - y0) * (j / (rows - 1) if rows > 1 else 0.5)
            best = min(tiles, key=lambda t: (t.x_mm - tx) ** 2 + (t.y_mm - ty) ** 2)
            if best not in chosen:
                chosen.append(best)
    return chosen


@dataclass
class LocalCorrections:
    """Focus found at tiles during the scan, as offsets from the map, spread to their
    neighbours: where the map mispredicts (a bump the surface cannot follow), the next tiles
    there start from the corrected focus instead of each being found soft again.

    Each offset weighs exp(-d^2 / 2 sigma^2) at distance d; a prior weight of 0.1 at offset 0
    makes the correction fade to the map's own z away from measured points (to a tenth at
    3 sigma, none beyond 4), so a local defect never bends the focus of the whole scan.
    """

    sigma_mm: float = 0.35
    points: list[tuple[float, float, float]] = field(default_factory=list)  # x, y, dz

    def add(self, x_mm: float, y_mm: float, dz_um: float) -> None:
        self.points.append((x_mm, y_mm, dz_um))

    def offset_um(self, x_mm: float, y_mm: float) -> float:
        if not self.points:
            return 0.0
        p = np.asarray(self.points)
        d2 = (p[:, 0] - x_mm) ** 2 + (p[:, 1] - y_mm) ** 2
        w = np.exp(-d2 / (2 * self.sigma_mm**2))
        w[d2 > (4 * self.sigma_mm) ** 2] = 0.0
        return float((w * p[:, 2]).sum() / (0.1 + w.sum()))
