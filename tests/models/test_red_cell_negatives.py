"""Red-cell-rich negatives: segmentation patches of red cells with no WBC, as background."""

from __future__ import annotations

import numpy as np

from uvscope.models.patches import TileArrays, red_cell_negatives, sample_patches


def _disc(shape: tuple[int, int], r: float, c: float, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - r) ** 2 + (xx - c) ** 2 <= radius**2


def smear(seed: int = 0) -> TileArrays:
    """A 128 x 256 tile: one labelled WBC on the left, a crowd of unlabelled red cells on the
    right, glass (bright) in between."""
    rng = np.random.default_rng(seed)
    shape = (128, 256)
    gray = np.full(shape, 0.9, np.float32)
    wbc = _disc(shape, 64, 40, 14)
    nuc = _disc(shape, 64, 40, 7)
    for _ in range(40):
        r, c = rng.uniform(8, 120), rng.uniform(150, 248)
        gray[_disc(shape, r, c, 6)] = 0.55
    gray[wbc] = 0.45
    gray[nuc] = 0.2
    gray += rng.normal(0, 0.01, shape).astype(np.float32)
    return TileArrays(
        gray, wbc.astype(np.float32), nuc.astype(np.float32), None, np.array([[64.0, 40.0]])
    )


def test_negatives_sit_on_red_cells_and_never_on_a_wbc():
    t = smear()
    size = 64
    neg = red_cell_negatives(t.gray, t.cell, size)
    assert len(neg) > 0
    for r, c in neg.astype(int):
        win = (slice(r - size // 2, r + size // 2), slice(c - size // 2, c + size // 2))
        assert t.cell[win].sum() == 0  # no WBC pixel in the window
        assert (t.gray[win] < 0.7).mean() >= 0.2  # dominated by red cells
        assert c > 100  # on the red-cell side of the tile
    # densest first
    covers = [
        (t.gray[int(r) - 32 : int(r) + 32, int(c) - 32 : int(c) + 32] < 0.7).mean() for r, c in neg
    ]
    assert covers == sorted(covers, reverse=True)


def test_no_negatives_on_blank_glass_small_tiles_or_wbc_only_fields():
    rng = np.random.default_rng(1)
    glass = (0.9 + rng.normal(0, 0.01, (128, 128))).astype(np.float32)
    assert len(red_cell_negatives(glass, np.zeros_like(glass), 64)) == 0  # noise only
    t = smear()
    assert len(red_cell_negatives(t.gray[:40, :40], t.cell[:40, :40], 64)) == 0  # too small
    # every red cell within reach of the WBC: labelled cell everywhere -> no window is free
    assert len(red_cell_negatives(t.gray, np.ones_like(t.cell), 64)) == 0


def test_sampled_negative_patches_are_background_and_others_unchanged():
    t = smear()
    t.negatives = red_cell_negatives(t.gray, t.cell, 64)
    x, y = sample_patches([t], 20, 64, np.random.default_rng(0), negative_fraction=1.0)
    assert y[:, 0].sum(axis=(1, 2)).max() < 64 * 64 * 0.05  # (almost) no WBC: jitter is small
    assert ((x[:, 0] < 0.7).mean(axis=(1, 2)) > 0.1).all()  # red cells in every patch
    # a tile without negatives samples exactly as before (shipped weights' random stream)
    plain = smear()
    a = sample_patches([plain], 10, 64, np.random.default_rng(3))
    plain.negatives = np.zeros((0, 2))
    b = sample_patches([plain], 10, 64, np.random.default_rng(3), negative_fraction=0.15)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def test_segmentation_training_uses_the_negatives():
    from uvscope.models.train_segment import find_negatives

    tiles = [smear(0), smear(1)]
    lines: list[str] = []
    n = find_negatives(tiles, 64, lines.append)
    assert n > 0 and all(t.negatives is not None and len(t.negatives) for t in tiles)
    assert "2 of 2 training tiles" in lines[0]
