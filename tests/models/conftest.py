import numpy as np
import pytest
import torch

from uvscope.models.patches import TileArrays


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny test networks run far faster on 1 thread than 2 on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def disk_tile(seed: int, size: int = 64) -> TileArrays:
    """A toy tile: bright background, dark cells with darker nuclei, an RGB 'stain'."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    gray = 0.9 + 0.05 * rng.standard_normal((size, size))
    cell = np.zeros((size, size), bool)
    nuc = np.zeros((size, size), bool)
    centers = []
    for _ in range(3):
        r, c = rng.integers(10, size - 10, 2)
        d2 = (yy - r) ** 2 + (xx - c) ** 2
        cell |= d2 < 64
        nuc |= d2 < 16
        centers.append((r, c))
    gray[cell] -= 0.4
    gray[nuc] -= 0.3
    gray = np.clip(gray, 0, 1).astype(np.float32)
    rgb = (
        np.stack([gray, 0.6 * gray + 0.3 * nuc, 0.9 - 0.3 * cell], -1).clip(0, 1).astype(np.float32)
    )
    return TileArrays(gray, cell, nuc, rgb, np.array(centers, float), donor=f"d{seed}")
