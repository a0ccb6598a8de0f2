"""Tile positions: stage positions refined by phase correlation and a robust global fit.

For every pair of overlapping tiles the overlap predicted by the stage is cross-correlated
(phase correlation, sub-pixel); pairs whose correction is too large or whose aligned overlaps
correlate poorly are rejected (blank glass, a bubble). The accepted pairwise offsets and a weak
pull toward the stage positions are solved together by least squares; the pair with the largest
residual above ``max_residual_px`` is dropped and the fit repeated until every pair agrees.
Positions are pixel origins (row, col of the tile's pixel 0, 0) in one global pixel grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.signal.windows import tukey
from skimage.registration import phase_cross_correlation

from uvscope.analysis.settings import MosaicSettings

PRIOR_WEIGHT = 1e-3  # pull toward the stage: fixes the gauge and places unconnected tiles


@dataclass
class PairMeasure:
    i: int
    j: int
    expected: tuple[float, float]  # origin_j - origin_i from the stage, pixels (row, col)
    measured: tuple[float, float] | None  # from the images; None when rejected
    correlation: float
    accepted: bool
    reason: str = ""


def stage_origins(
    positions_mm: Mapping[int, tuple[float, float]], shape: tuple[int, int], px_um: float
) -> dict[int, np.ndarray]:
    """Global pixel origin (row, col) of each tile from its stage centre (x, y) in mm."""
    h, w = shape
    return {
        k: np.array([y * 1e3 / px_um - (h - 1) / 2.0, x * 1e3 / px_um - (w - 1) / 2.0])
        for k, (x, y) in positions_mm.items()
    }


def overlapping_pairs(
    origins: Mapping[int, np.ndarray], shape: tuple[int, int], min_fraction: float = 0.1
) -> list[tuple[int, int]]:
    """Pairs of tiles sharing at least ``min_fraction`` of a tile (not diagonal corners)."""
    keys = sorted(origins)
    h, w = shape
    pairs = []
    for a, i in enumerate(keys):
        for j in keys[a + 1 :]:
            d = origins[j] - origins[i]
            oh, ow = h - abs(d[0]), w - abs(d[1])
            if oh >= 16 and ow >= 16 and oh * ow >= min_fraction * h * w:
                pairs.append((i, j))
    return pairs


def _overlap(
    shape: tuple[int, int], d: tuple[int, int]
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices of tile i and tile j that show the same area when j's origin is i's + d."""
    h, w = shape
    dr, dc = d
    ri = slice(max(0, dr), min(h, h + dr))
    ci = slice(max(0, dc), min(w, w + dc))
    rj = slice(max(0, -dr), min(h, h - dr))
    cj = slice(max(0, -dc), min(w, w - dc))
    return (ri, ci), (rj, cj)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def measure_pair(
    img_i: np.ndarray,
    img_j: np.ndarray,
    expected: np.ndarray,
    max_shift_px: float,
    min_correlation: float,
) -> tuple[tuple[float, float] | None, float, str]:
    """Offset of tile j's origin from tile i's, measured on their predicted overlap."""
    shape = img_i.shape
    e = (int(round(expected[0])), int(round(expected[1])))
    si, sj = _overlap(shape, e)
    a, b = img_i[si], img_j[sj]
    if min(a.shape) < 8:
        return None, 0.0, "overlap too small"
    # remove the mean and taper the borders: smooth images otherwise lock onto the region edges
    win = np.outer(tukey(a.shape[0], 0.4), tukey(a.shape[1], 0.4))
    shift, _, _ = phase_cross_correlation(
        (a - a.mean()) * win, (b - b.mean()) * win, upsample_factor=10
    )
    # b(x) = a(x + s): tile j sits s pixels further along than the stage says
    d = np.array(e, float) + np.asarray(shift, float)
    if np.hypot(*(d - expected)) > max_shift_px:
        return None, 0.0, f"correction {np.hypot(*(d - expected)):.1f} px above the limit"
    si2, sj2 = _overlap(shape, (int(round(d[0])), int(round(d[1]))))
    a2, b2 = img_i[si2], img_j[sj2]
    if min(a2.shape) < 8:
        return None, 0.0, "overlap too small"
    corr = _ncc(a2.astype(np.float64), b2.astype(np.float64))
    if corr < min_correlation:
        return None, corr, f"correlation {corr:.2f} below {min_correlation}"
    return (float(d[0]), float(d[1])), corr, ""


def solve_positions(
    stage: Mapping[int, np.ndarray], pairs: list[PairMeasure], max_residual_px: float
) -> dict[int, np.ndarray]:
    """Least-squares origins from accepted pair offsets; the worst outlier dropped until all fit."""
    keys = sorted(stage)
    col = {k: n for n, k in enumerate(keys)}
    while True:
        used = [p for p in pairs if p.accepted and p.measured is not None]
        rows = len(used) + len(keys)
        a = np.zeros((rows, len(keys)))
        b = np.zeros((rows, 2))
        for r, p in enumerate(used):
            a[r, col[p.j]], a[r, col[p.i]] = 1.0, -1.0
            b[r] = p.measured  # type: ignore[assignment]
        for n, k in enumerate(keys):
            a[len(used) + n, n] = PRIOR_WEIGHT
            b[len(used) + n] = PRIOR_WEIGHT * stage[k]
        x, *_ = np.linalg.lstsq(a, b, rcond=None)
        if not used:
            break
        res = np.array(
            [np.hypot(*(x[col[p.j]] - x[col[p.i]] - np.asarray(p.measured))) for p in used]
        )
        worst = int(np.argmax(res))
        if res[worst] <= max_residual_px:
            break
        used[worst].accepted = False
        used[worst].reason = f"residual {res[worst]:.1f} px in the global fit"
    return {k: x[col[k]] for k in keys}


def register_tiles(
    load: Callable[[int], np.ndarray],
    positions_mm: Mapping[int, tuple[float, float]],
    shape: tuple[int, int],
    px_um: float,
    settings: MosaicSettings | None = None,
) -> tuple[dict[int, np.ndarray], list[PairMeasure]]:
    """Refined pixel origins of every tile, and the pair measurements behind them."""
    s = settings or MosaicSettings()
    stage = stage_origins(positions_mm, shape, px_um)
    if not s.refine_positions:
        return stage, []
    measures: list[PairMeasure] = []
    cache: dict[int, np.ndarray] = {}

    def get(k: int) -> np.ndarray:
        if k not in cache:
            cache[k] = np.asarray(load(k), np.float32)
        return cache[k]

    max_shift_px = s.max_shift_um / px_um
    for i, j in overlapping_pairs(stage, shape):
        expected = stage[j] - stage[i]
        measured, corr, why = measure_pair(
            get(i), get(j), expected, max_shift_px, s.min_correlation
        )
        measures.append(
            PairMeasure(
                i,
                j,
                (float(expected[0]), float(expected[1])),
                measured,
                corr,
                measured is not None,
                why,
            )
        )
    return solve_positions(stage, measures, s.max_residual_px), measures
