"""Patch sampling from whole tiles for segmentation and staining training.

Most patches are centred (with jitter) on a WBC, the rest anywhere, as the paper extracted
patches containing WBCs plus a small number without. Validation patches are a fixed grid so
the score is comparable between epochs.
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


def _corner(
    tile: TileArrays, size: int, rng: np.random.Generator, cell_fraction: float
) -> tuple[int, int]:
    h, w = tile.gray.shape
    if len(tile.centers) and rng.random() < cell_fraction:
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
) -> tuple[np.ndarray, np.ndarray]:
    """n random patches: x (n,1,S,S) gray and y (n,2,S,S) masks or (n,3,S,S) RGB."""
    xs = np.empty((n, 1, size, size), np.float32)
    ys = np.empty((n, 3 if with_rgb else 2, size, size), np.float32)
    for i in range(n):
        t = tiles[int(rng.integers(len(tiles)))]
        r0, c0 = _corner(t, size, rng, cell_fraction)
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
