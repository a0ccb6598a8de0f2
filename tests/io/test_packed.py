"""Tiles kept compressed while mosaic bands wait: lossless, and read back block by block."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uvscope.io.mosaic import BandAccumulator, Layer
from uvscope.io.packed import CHUNK_ROWS, PackedTile


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((520, 696), np.float32),
        ((520, 696, 3), np.uint8),
        ((347, 464), np.uint32),
        ((5, 7), np.int16),
    ],
)
def test_round_trip_is_exact(shape, dtype):
    rng = np.random.default_rng(1)
    img = (rng.random(shape) * 1000).astype(dtype)
    packed = PackedTile(img)
    assert packed.shape == img.shape and packed.dtype == img.dtype
    out = packed.unpack()
    assert out.dtype == img.dtype and np.array_equal(out, img)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 3 * CHUNK_ROWS + 5),
    r=st.tuples(st.integers(-10, 120), st.integers(-10, 120)),
    c=st.tuples(st.integers(-5, 40), st.integers(-5, 40)),
)
def test_blocks_read_as_from_the_array(h, r, c):
    img = np.arange(h * 33 * 3, dtype=np.uint16).reshape(h, 33, 3)
    rows, cols = slice(*r), slice(*c)
    assert np.array_equal(PackedTile(img)[rows, cols], img[rows, cols])


def test_a_label_tile_is_held_in_a_fraction_of_its_bytes():
    lab = np.zeros((520, 696), np.uint32)
    lab[100:140, 200:240] = 80_001  # one cell on background, as most label tiles are
    packed = PackedTile(lab)
    assert packed.nbytes < lab.nbytes / 50


@pytest.mark.parametrize("mode", ["mean", "paste"])
def test_the_blender_sees_the_same_pixels(mode):
    rng = np.random.default_rng(2)
    dtype = np.float32 if mode == "mean" else np.uint32
    tiles = [(rng.random((90, 120)) * 50).astype(dtype) for _ in range(3)]
    layer = Layer(lambda k: None, np.dtype(dtype), mode=mode)  # type: ignore[arg-type]
    for r0 in (0, 37, 64):
        plain = BandAccumulator(r0, 64, 300, layer, 2)
        packed = BandAccumulator(r0, 64, 300, layer, 2)
        for i, t in enumerate(tiles):
            plain.add(t, 20 * i, 70 * i - 10)
            packed.add(PackedTile(t), 20 * i, 70 * i - 10)
        assert np.array_equal(plain.result(), packed.result())
