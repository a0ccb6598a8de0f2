"""Flips and 90-degree rotations (the paper's augmentation), the same for paired arrays."""

from __future__ import annotations

import numpy as np
import torch


def random_dihedral(rng: np.random.Generator, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """One of the 8 flip/rotation symmetries, the same for every array (last two axes)."""
    k = int(rng.integers(4))
    flip = bool(rng.integers(2))
    out = []
    for a in arrays:
        b = np.rot90(a, k, axes=(-2, -1))
        if flip:
            b = b[..., ::-1]
        out.append(np.ascontiguousarray(b))
    return tuple(out)


def batch_dihedral(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """A random symmetry per sample of an (N,C,H,W) batch (square H = W)."""
    n = x.shape[0]
    ks = torch.randint(0, 4, (n,), generator=gen)
    flips = torch.randint(0, 2, (n,), generator=gen)
    out = torch.empty_like(x)
    for i in range(n):
        y = torch.rot90(x[i], int(ks[i]), dims=(-2, -1))
        out[i] = torch.flip(y, dims=(-1,)) if flips[i] else y
    return out
