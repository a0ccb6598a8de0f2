"""Patch sampling from whole tiles for segmentation and staining training.

Most patches are centred (with jitter) on a WBC, the rest anywhere, as the paper extracted
patches containing WBCs plus a small number without. A share of the segmentation patches is
centred on red-cell-rich windows with no WBC labelled (``red_cell_negatives``): red cells are
what a smear holds most of, and the network must learn to leave them out. Validation patches
are a fixed grid so the score is comparable between epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TileArrays:
    """One preprocessed tile at the model's pixel size.

    gray (H,W) float32 0..1; cell, nucleus (H,W) bool masks or float32 coverage fractions
    (a pixel is in the mask where the fraction is >= 0.5); rgb (H,W,3) float32 or None;
    centers: (K,2) row/col of WBCs used to bias patch sampling.
    """

    gray: np.ndarray
    cell: np.ndarray
    nucleus: np.ndarray
    rgb: np.ndarray | None = None
    centers: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    donor: str = ""
    #: (K,2) centres of red-cell-rich windows without a WBC (None: not looked for yet)
    negatives: np.ndarray | None = None


#: the share of segmentation patches centred on a red-cell-rich window without a WBC, where a
#: tile has one (the rest keep the WBC-centred / random mix)
NEGATIVE_FRACTION = 0.15


def red_cell_negatives(
    gray: np.ndarray,
    cell: np.ndarray,
    size: int,
    min_cover: float = 0.2,
    min_contrast: float = 0.08,
    max_n: int = 32,
) -> np.ndarray:
    """Centres (row, col) of ``size`` x ``size`` windows dominated by red cells: at least
    ``min_cover`` of the window darker than the tile's Otsu threshold (cells absorb at 260 nm
    and take up stain; glass does not) and no pixel of a labelled WBC in it. The densest first,
    at most ``max_n``, on a stride of size / 4. None on a tile without dark objects (blank glass:
    Otsu would only split its noise) or smaller than a window."""
    from skimage.filters import threshold_otsu

    g = np.asarray(gray, dtype=np.float64)
    h, w = g.shape
    if h < size or w < size or float(g.max() - g.min()) < 1e-6:
        return np.zeros((0, 2))
    dark = g < threshold_otsu(g)
    if not dark.any() or dark.all() or g[~dark].mean() - g[dark].mean() < min_contrast:
        return np.zeros((0, 2))

    def window_sums(m: np.ndarray) -> np.ndarray:
        ii = np.pad(np.cumsum(np.cumsum(m.astype(np.float64), 0), 1), ((1, 0), (1, 0)))
        return ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]

    cover = window_sums(dark) / (size * size)  # (h - size + 1, w - size + 1)
    wbc = window_sums(np.asarray(cell) > 0)
    stride = max(1, size // 4)
    rows = np.arange(0, h - size + 1, stride)
    cols = np.arange(0, w - size + 1, stride)
    c, k = cover[np.ix_(rows, cols)], wbc[np.ix_(rows, cols)]
    ok = (k == 0) & (c >= min_cover)
    if not ok.any():
        return np.zeros((0, 2))
    ri, ci = np.nonzero(ok)
    order = np.argsort(-c[ri, ci], kind="stable")[:max_n]
    return np.stack([rows[ri[order]] + size // 2, cols[ci[order]] + size // 2], 1).astype(float)


def _corner(
    tile: TileArrays,
    size: int,
    rng: np.random.Generator,
    cell_fraction: float,
    negative_fraction: float = 0.0,
) -> tuple[int, int]:
    h, w = tile.gray.shape
    neg = tile.negatives
    # tiles without negatives draw exactly as before (the shipped weights' random stream)
    if neg is not None and len(neg) and negative_fraction > 0 and rng.random() < negative_fraction:
        r, c = neg[rng.integers(len(neg))]
        r0 = int(r) - size // 2 + int(rng.integers(-size // 8, size // 8 + 1))
        c0 = int(c) - size // 2 + int(rng.integers(-size // 8, size // 8 + 1))
    elif len(tile.centers) and rng.random() < cell_fraction:
        r, c = tile.centers[rng.integers(len(tile.centers))]
        r0 = int(r) - size // 2 + int(rng.integers(-size // 4, size // 4 + 1))
        c0 = int(c) - size // 2 + int(rng.integers(-size // 4, size // 4 + 1))
    else:
        r0, c0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return int(np.clip(r0, 0, h - size)), int(np.clip(c0, 0, w - size))


def sample_patches(
    tiles: list[TileArrays],
    n: int,
    size: int,
    rng: np.random.Generator,
    cell_fraction: float = 0.8,
    with_rgb: bool = False,
    negative_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """n random patches: x (n,1,S,S) gray and y (n,2,S,S) masks or (n,3,S,S) RGB;
    ``negative_fraction`` of them centred on a tile's red-cell negatives where it has some."""
    xs = np.empty((n, 1, size, size), np.float32)
    ys = np.empty((n, 3 if with_rgb else 2, size, size), np.float32)
    for i in range(n):
        t = tiles[int(rng.integers(len(tiles)))]
        r0, c0 = _corner(t, size, rng, cell_fraction, negative_fraction)
        sl = (slice(r0, r0 + size), slice(c0, c0 + size))
        xs[i, 0] = t.gray[sl]
        if with_rgb:
            assert t.rgb is not None
            ys[i] = np.moveaxis(t.rgb[sl], -1, 0)
        else:
            ys[i, 0] = t.cell[sl]
            ys[i, 1] = t.nucleus[sl]
    return xs, ys


def grid_patches(
    tiles: list[TileArrays], size: int, with_rgb: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping patches covering every tile (the fixed validation/test set)."""
    xs, ys = [], []
    for t in tiles:
        h, w = t.gray.shape
        for r0 in range(0, h - size + 1, size):
            for c0 in range(0, w - size + 1, size):
                sl = (slice(r0, r0 + size), slice(c0, c0 + size))
                xs.append(t.gray[sl][None])
                if with_rgb:
                    assert t.rgb is not None
                    ys.append(np.moveaxis(t.rgb[sl], -1, 0))
                else:
                    ys.append(np.stack([t.cell[sl], t.nucleus[sl]]).astype(np.float32))
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)
