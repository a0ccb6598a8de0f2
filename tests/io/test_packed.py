"""Tiles kept compressed while mosaic bands wait: lossless, and read back block by block."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
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
    out = packed[0 : shape[0], slice(None)]
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


def test_the_spool_keeps_its_budget_and_empties_its_file(tmp_path):
    from uvscope.io.packed import ChunkSpool

    spool = ChunkSpool(1000, tmp_path)
    a, b = [bytes([1]) * 600], [bytes([2]) * 300, bytes([3]) * 300]
    ra, rb = spool.store(a), spool.store(b)  # a fits, b does not: b goes to the file
    assert ra == a and all(isinstance(r, tuple) for r in rb)
    assert spool.in_memory_bytes == 600 and spool.on_disk_bytes == 600
    assert [spool.load(r) for r in rb] == b
    assert list(tmp_path.iterdir()) == []  # an anonymous file: nothing left if killed
    spool.release(rb)
    assert spool.on_disk_bytes == 0 and spool._end == 0  # emptied once nothing spilled lives
    rc = spool.store([bytes([4]) * 500])
    assert rc[0] == (0, 500) and spool.load(rc[0]) == bytes([4]) * 500
    spool.close()


@pytest.mark.parametrize("budget", [0, 40_000, 10**9])
def test_a_stream_over_its_budget_writes_the_same_mosaic(tmp_path, budget):
    """Tiles pushed one by one as a scan does, bands rendered as they complete: spilling the
    waiting tiles to disk changes no pixel, and the memory held stays within the budget."""
    from uvscope.io.mosaic import MosaicGeometry, MosaicStream, Output, stage_origins
    from uvscope.io.mosaic_pyramid import PyramidStream

    rng = np.random.default_rng(4)
    shape, px = (90, 120), 0.5
    pos = {k: (10.0 + (k % 6) * 0.05, 10.0 + (k // 6) * 0.04) for k in range(18)}
    tiles = {k: rng.random(shape).astype(np.float32) for k in pos}
    origins = stage_origins(pos, shape, px)
    g = MosaicGeometry.covering(origins, shape, px, 10_000_000)
    layer = Layer(lambda k: None, np.dtype(np.float32), fill=1.0, blend_width_px=16)
    out = PyramidStream(tmp_path / "m.ome.tif", g.shape, np.dtype(np.float32), 1, px, tile=32)
    st = MosaicStream(g, origins, layer, [Output(out)], band_rows=32, spool_budget_bytes=budget)
    held = []
    for k in sorted(pos):
        st.push(k, tiles[k], origins[k])
        st.render_ready()
        held.append(st.spool.in_memory_bytes)
    assert st.bands_rendered > 0  # bands were written while tiles came
    spilled = st.spool.spilled_bytes
    st.finish()
    assert max(held) <= budget or budget >= 10**9
    assert (spilled > 0) == (budget < 10**9)
    ref = MosaicStream(
        g,
        origins,
        layer,
        [Output(PyramidStream(tmp_path / "r.ome.tif", g.shape, np.dtype(np.float32), 1, px))],
    )
    ref.finish(lambda k: (tiles[k], origins[k]))
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "m.ome.tif"), tifffile.imread(tmp_path / "r.ome.tif")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ome.tif", "r.ome.tif"]


def test_a_full_disk_is_a_storage_error_naming_the_folder(tmp_path, monkeypatch):
    import errno
    import os

    from uvscope.errors import StorageError
    from uvscope.io.packed import ChunkSpool

    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    spool = ChunkSpool(0, tmp_path)
    with pytest.raises(StorageError, match=f"{tmp_path}.*No space left"):
        spool.store([b"x" * 10])
    assert spool.on_disk_bytes == 0 and spool._end == 0
