"""Tile positions: stage positions refined by phase correlation and a robust global fit.

For every pair of overlapping tiles the overlap predicted by the stage is cross-correlated
(phase correlation, sub-pixel); pairs whose correction is too large or whose aligned overlaps
correlate poorly are rejected (blank glass, a bubble). The accepted pairwise offsets and a weak
pull toward the stage positions are solved together by least squares; the pair with the largest
residual above ``max_residual_px`` is dropped and the fit repeated until every pair agrees.
Positions are pixel origins (row, col of the tile's pixel 0, 0) in one global pixel grid.

Registration streams: ``StreamingRegistration.add`` takes each tile as it is analysed, keeps
only the strips of it that pairs with tiles not seen yet still need (the predicted overlap
plus the largest correction allowed), measures a pair as soon as both strips are there and
drops them. In serpentine order that is about one grid row of strips, whatever the scan size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.signal.windows import tukey
from scipy.sparse.linalg import spsolve
from skimage.registration import phase_cross_correlation

from uvscope.analysis.settings import MosaicSettings
from uvscope.io.mosaic import stage_origins
from uvscope.io.packed import ChunkSpool, PackedTile

__all__ = [
    "PairMeasure",
    "StreamingRegistration",
    "measure_pair",
    "overlapping_pairs",
    "register_tiles",
    "solve_positions",
    "stage_origins",
]

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


def overlapping_pairs(
    origins: Mapping[int, np.ndarray], shape: tuple[int, int], min_fraction: float = 0.1
) -> list[tuple[int, int]]:
    """Pairs of tiles sharing at least ``min_fraction`` of a tile (not diagonal corners)."""
    keys = sorted(origins)
    if not keys:
        return []
    h, w = shape
    o = np.array([origins[k] for k in keys], float).reshape(-1, 2)
    pairs: list[tuple[int, int]] = []
    for a, i in enumerate(keys):
        d = np.abs(o[a + 1 :] - o[a])
        oh, ow = h - d[:, 0], w - d[:, 1]
        ok = (oh >= 16) & (ow >= 16) & (oh * ow >= min_fraction * h * w)
        pairs.extend((i, keys[a + 1 + int(b)]) for b in np.flatnonzero(ok))
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
    img_i: np.ndarray | Strip,
    img_j: np.ndarray | Strip,
    expected: np.ndarray,
    max_shift_px: float,
    min_correlation: float,
) -> tuple[tuple[float, float] | None, float, str]:
    """Offset of tile j's origin from tile i's, measured on their predicted overlap (whole
    tiles, or the ``Strip`` of each that ``StreamingRegistration`` keeps)."""
    shape = img_i.shape[:2]
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


def _lstsq(
    keys: list[int],
    stage: Mapping[int, np.ndarray],
    used: list[PairMeasure],
    fixed: Mapping[int, np.ndarray] | None = None,
) -> np.ndarray:
    """Origins of ``keys`` minimising sum |x_j - x_i - m_ij|^2 + PRIOR_WEIGHT^2 |x_k - stage_k|^2,
    with the origins in ``fixed`` held where they are (a pair to a fixed tile pulls on one end).

    Sparse normal equations (a graph Laplacian plus a small diagonal): milliseconds for
    thousands of tiles, where a dense solve grows with the cube of the tile count."""
    fixed = fixed or {}
    n = len(keys)
    col = {k: c for c, k in enumerate(keys)}
    r_idx: list[int] = []
    c_idx: list[int] = []
    vals: list[float] = []
    b = np.zeros((len(used), 2))
    for r, p in enumerate(used):
        b[r] = p.measured
        for k, sign in ((p.j, 1.0), (p.i, -1.0)):
            if k in col:
                r_idx.append(r)
                c_idx.append(col[k])
                vals.append(sign)
            else:
                b[r] -= sign * np.asarray(fixed[k], float)
    a = sparse.csr_matrix((vals, (r_idx, c_idx)), shape=(len(used), n))
    prior = np.array([stage[k] for k in keys], float).reshape(-1, 2)
    lhs = (a.T @ a + PRIOR_WEIGHT**2 * sparse.identity(n)).tocsc()
    rhs = a.T @ b + PRIOR_WEIGHT**2 * prior
    return np.column_stack([spsolve(lhs, rhs[:, 0]), spsolve(lhs, rhs[:, 1])]).reshape(n, 2)


def solve_positions(
    stage: Mapping[int, np.ndarray],
    pairs: list[PairMeasure],
    max_residual_px: float,
    fixed: Mapping[int, np.ndarray] | None = None,
) -> dict[int, np.ndarray]:
    """Least-squares origins of the tiles in ``stage`` from accepted pair offsets (pairs to
    tiles in ``fixed`` pull toward those, which stay put); the worst outlier is dropped until
    all fit."""
    fixed = fixed or {}
    keys = sorted(stage)
    col = {k: n for n, k in enumerate(keys)}
    while True:
        used = [p for p in pairs if p.accepted and p.measured is not None]
        x = _lstsq(keys, stage, used, fixed)
        if not used:
            break

        def at(k: int, x: np.ndarray = x) -> np.ndarray:
            return x[col[k]] if k in col else np.asarray(fixed[k], float)

        m = np.array([p.measured for p in used], float)
        xi = np.array([at(p.i) for p in used]).reshape(-1, 2)
        xj = np.array([at(p.j) for p in used]).reshape(-1, 2)
        res = np.hypot(*(xj - xi - m).T)
        worst = int(np.argmax(res))
        if res[worst] <= max_residual_px:
            break
        used[worst].accepted = False
        used[worst].reason = f"residual {res[worst]:.1f} px in the global fit"
    return {k: x[col[k]] for k in keys}


class Strip:
    """The part of a tile one pair needs, indexable with whole-tile slices; kept compressed
    in ``spool`` when given (a vertical pair's strip waits a whole grid row)."""

    def __init__(
        self, image: np.ndarray, rows: slice, cols: slice, spool: ChunkSpool | None = None
    ) -> None:
        part = np.array(image[rows, cols], np.float32)  # a copy: the tile may go
        self.data: np.ndarray | PackedTile = part if spool is None else PackedTile(part, spool)
        self.r0, self.c0 = rows.start, cols.start
        self.shape = image.shape[:2]

    def release(self) -> None:
        if isinstance(self.data, PackedTile):
            self.data.release()

    def __getitem__(self, sl: tuple[slice, slice]) -> np.ndarray:
        r, c = sl
        return self.data[r.start - self.r0 : r.stop - self.r0, c.start - self.c0 : c.stop - self.c0]


def _grown(s: slice, margin: int, n: int) -> slice:
    return slice(max(0, s.start - margin), min(n, s.stop + margin))


class StreamingRegistration:
    """Pair measurements taken as tiles arrive, in any order; ``solve`` gives the origins.

    Holds, per pair still waiting for its second tile, one strip of the first: the predicted
    overlap grown by the largest correction ``measure_pair`` accepts, so the measurement is
    the same as on whole tiles.
    """

    def __init__(
        self,
        positions_mm: Mapping[int, tuple[float, float]],
        shape: tuple[int, int],
        px_um: float,
        settings: MosaicSettings | None = None,
        spool: ChunkSpool | None = None,
    ) -> None:
        self.settings = s = settings or MosaicSettings()
        self.shape, self.px_um = shape, px_um
        self.spool = spool  # where strips waiting for a neighbour are kept (None: as arrays)
        self.stage = stage_origins(positions_mm, shape, px_um)
        self.max_shift_px = s.max_shift_um / px_um
        # room for the largest accepted correction, and for stage read-backs that differ from
        # the plan the strips were cut by
        self._margin = math.ceil(self.max_shift_px) + 8
        self._pairs: dict[int, list[tuple[int, int]]] = {}
        if s.refine_positions:
            for i, j in overlapping_pairs(self.stage, shape):
                self._pairs.setdefault(i, []).append((i, j))
                self._pairs.setdefault(j, []).append((i, j))
        self._strips: dict[tuple[int, int], Strip] = {}
        self.measures: list[PairMeasure] = []
        self.seen: set[int] = set()
        #: origins fixed for good by ``freeze`` (mosaic bands written during the scan use them)
        self.frozen: dict[int, np.ndarray] = {}

    @property
    def held_bytes(self) -> int:
        return sum(st.data.nbytes for st in self._strips.values())

    def _expected(self, i: int, j: int) -> np.ndarray:
        expected: np.ndarray = self.stage[j] - self.stage[i]
        return expected

    def _strip(self, image: np.ndarray, pair: tuple[int, int], first: bool) -> Strip:
        e = self._expected(*pair)
        si, sj = _overlap(self.shape, (int(round(e[0])), int(round(e[1]))))
        rows, cols = si if first else sj
        h, w = self.shape
        return Strip(
            image, _grown(rows, self._margin, h), _grown(cols, self._margin, w), self.spool
        )

    def add(
        self, k: int, image: np.ndarray, position_mm: tuple[float, float] | None = None
    ) -> None:
        """Take tile ``k`` (at ``position_mm`` as the stage read it back, when given): measure
        its pairs whose other tile came before, keep strips for the others."""
        if k in self.seen or k not in self.stage:
            return
        if position_mm is not None:
            self.stage[k] = stage_origins({k: position_mm}, self.shape, self.px_um)[k]
        self.seen.add(k)
        img = np.asarray(image, np.float32)
        for pair in self._pairs.get(k, []):
            other = pair[1] if pair[0] == k else pair[0]
            if other not in self.seen:
                self._strips[pair] = self._strip(img, pair, first=pair[0] == k)
                continue
            held = self._strips.pop(pair)
            a, b = (img, held) if pair[0] == k else (held, img)
            self._measure(pair, a, b)
            held.release()

    def _measure(self, pair: tuple[int, int], a: np.ndarray | Strip, b: np.ndarray | Strip) -> None:
        s, e = self.settings, self._expected(*pair)
        measured, corr, why = measure_pair(a, b, e, self.max_shift_px, s.min_correlation)
        self.measures.append(
            PairMeasure(
                *pair, (float(e[0]), float(e[1])), measured, corr, measured is not None, why
            )
        )

    def freeze(self, keys: Iterable[int]) -> dict[int, np.ndarray]:
        """Fix the origins of ``keys`` (tiles seen, not yet frozen) for good, so mosaic bands
        under them can be written during the scan.

        They are solved from the pairs among themselves and to tiles frozen before (which stay
        where they are), with the same outlier rejection as ``solve``; pairs to tiles frozen
        later pull on those instead. The result depends only on the tiles and on the sequence
        of groups (a mosaic's bands, top to bottom), not on the order tiles arrived in, so a
        scan and its re-analysis place every tile alike. Returns the new origins."""
        group = sorted(set(keys) - set(self.frozen))
        missing = [k for k in group if k not in self.seen]
        if missing:
            raise ValueError(f"tiles {missing} were not seen: they cannot be placed yet")
        if not group:
            return {}
        stage = {k: self.stage[k] for k in group}
        if not self.settings.refine_positions:
            new = {k: np.array(v, float) for k, v in stage.items()}
        else:
            inside = set(group)
            pairs = [
                p
                for p in sorted(self.measures, key=lambda p: (p.i, p.j))
                if (p.i in inside or p.j in inside)
                and (p.i in inside or p.i in self.frozen)
                and (p.j in inside or p.j in self.frozen)
            ]
            new = solve_positions(stage, pairs, self.settings.max_residual_px, self.frozen)
        self.frozen.update(new)
        return new

    def frozen_solution(self) -> tuple[dict[int, np.ndarray], list[PairMeasure]]:
        """The origins fixed by ``freeze`` (every tile seen is frozen first) and the pairs."""
        self.freeze(self.seen)
        measures = sorted(self.measures, key=lambda p: (p.i, p.j))
        return dict(self.frozen), measures if self.settings.refine_positions else []

    def solve(self) -> tuple[dict[int, np.ndarray], list[PairMeasure]]:
        """Origins of every tile seen from one global fit (stage positions where registration
        is off)."""
        stage = {k: v for k, v in self.stage.items() if k in self.seen}
        if not self.settings.refine_positions:
            return stage, []
        measures = sorted(self.measures, key=lambda p: (p.i, p.j))
        return solve_positions(stage, measures, self.settings.max_residual_px), measures


def register_tiles(
    load: Callable[[int], np.ndarray],
    positions_mm: Mapping[int, tuple[float, float]],
    shape: tuple[int, int],
    px_um: float,
    settings: MosaicSettings | None = None,
) -> tuple[dict[int, np.ndarray], list[PairMeasure]]:
    """Refined pixel origins of every tile, and the pair measurements behind them (tiles
    loaded one at a time in index order)."""
    reg = StreamingRegistration(positions_mm, shape, px_um, settings)
    for k in sorted(positions_mm):
        if reg.settings.refine_positions:
            reg.add(k, load(k))
        else:
            reg.seen.add(k)
    return reg.solve()
