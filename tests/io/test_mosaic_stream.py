"""The streamed pyramid writer and the one mosaic builder against in-memory references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from uvscope.io.mosaic import Layer, MosaicGeometry, blend_tiles, render_layer, stage_origins
from uvscope.io.mosaic_pyramid import _half, write_pyramid_bands


@pytest.mark.parametrize("labels", [False, True])
def test_band_written_pyramid_equals_the_whole_image_pyramid(tmp_path: Path, labels: bool):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60000, (700, 517), dtype=np.uint16)  # odd sizes, several bands
    calls = []

    def band(r0: int, r1: int) -> np.ndarray:
        calls.append((r0, r1))
        return img[r0:r1]

    p = write_pyramid_bands(
        tmp_path / "m.ome.tif", img.shape, img.dtype, 1, band, 0.5, labels=labels, tile=128
    )
    assert all(r1 - r0 <= 128 for r0, r1 in calls)  # never the whole image at once
    with tifffile.TiffFile(p) as tf:
        levels = [lev.asarray() for lev in tf.series[0].levels]
        assert tf.pages.first.predictor == tifffile.PREDICTOR.HORIZONTAL
    ref = img
    for lev in levels:
        np.testing.assert_array_equal(lev, ref)
        ref = _half(ref, labels)
    assert max(levels[-1].shape) <= 128 and len(levels) == 4


def test_streamed_mosaic_equals_one_band_blend(tmp_path: Path):
    """Band-by-band rendering (tiles cached and dropped) gives the one-band result."""
    rng = np.random.default_rng(1)
    shape, px = (90, 120), 0.5
    pos = {k: (10.0 + (k % 3) * 0.05, 10.0 + (k // 3) * 0.04) for k in range(9)}
    tiles = {k: rng.random(shape).astype(np.float32) for k in pos}
    origins = stage_origins(pos, shape, px)
    loads = []

    def load(k: int) -> np.ndarray:
        loads.append(k)
        return tiles[k]

    g = MosaicGeometry.covering(origins, shape, px, 10_000_000)
    layer = Layer(load, np.dtype(np.float32), fill=1.0, blend_width_px=16)
    p = render_layer(tmp_path / "g.ome.tif", g, origins, layer, "gray", tile=32)
    assert sorted(loads) == sorted(pos)  # each tile read once
    streamed = tifffile.imread(p)
    whole = render_layer(tmp_path / "w.ome.tif", g, origins, layer, "gray", tile=4096)
    np.testing.assert_array_equal(streamed, tifffile.imread(whole))
    assert streamed.shape == g.shape and 0 <= streamed.min() and streamed.max() <= 1


def test_blend_places_tiles_by_stage_position():
    px = 1.0  # um
    a = np.full((10, 20), 2.0, np.float32)
    b = np.full((10, 20), 4.0, np.float32)
    bounds = (0.0, 0.0, 0.035, 0.010)  # b is 15 um to the right of a: 5 px overlap
    m = blend_tiles([(a, 0.0095, 0.0045), (b, 0.0245, 0.0045)], bounds, px)
    assert m[5, 2] == pytest.approx(2.0) and m[5, 30] == pytest.approx(4.0)
    mid = m[5, 15:20]
    assert np.all((mid > 2.0) & (mid < 4.0)) and np.all(np.diff(mid) > 0)


@pytest.mark.parametrize(
    "dtype,channels,labels",
    [(np.uint16, 1, False), (np.float32, 1, False), (np.uint8, 3, False), (np.uint32, 1, True)],
)
def test_streamed_pyramid_tiles_are_the_bytes_tifffile_writes(
    tmp_path: Path, dtype: type, channels: int, labels: bool
):
    """Tiles encoded band by band during a scan are byte for byte tifffile's own encoding of
    the whole image (same predictor, deflate and padding), so the format is unchanged."""
    from uvscope.io.mosaic_pyramid import PyramidStream
    from uvscope.io.ome import tiff_options

    rng = np.random.default_rng(3)
    shape = (301, 270) if channels == 1 else (301, 270, 3)
    img = (rng.random(shape) * 200).astype(dtype)
    stream = PyramidStream(
        tmp_path / "s.ome.tif", (301, 270), dtype, channels, 0.5, labels=labels, tile=128
    )
    for r0, r1 in [(0, 7), (7, 200), (200, 201), (201, 301)]:  # ragged bands, any size
        stream.add(img[r0:r1])
    p = stream.close()
    opts = {"tile": (128, 128), **tiff_options(np.dtype(dtype), 0.5, channels == 3)}
    opts.pop("resolution")
    tifffile.imwrite(tmp_path / "ref.tif", img, bigtiff=True, **opts)
    with tifffile.TiffFile(p) as a, tifffile.TiffFile(tmp_path / "ref.tif") as b:
        pa, pb = a.pages.first, b.pages.first
        assert len(pa.dataoffsets) == len(pb.dataoffsets)
        for oa, na, ob, nb in zip(
            pa.dataoffsets, pa.databytecounts, pb.dataoffsets, pb.databytecounts, strict=True
        ):
            a.filehandle.seek(oa)
            b.filehandle.seek(ob)
            assert a.filehandle.read(na) == b.filehandle.read(nb)
        np.testing.assert_array_equal(a.series[0].levels[0].asarray(), img)
    assert not list(tmp_path.glob("*.part*"))  # spools gone


def test_cached_tiles_do_not_keep_the_full_resolution_tile_alive():
    """A band waits for its tiles while the scan moves on: what the stream keeps of a tile is
    the downsampled copy (a picked view of labels would hold the whole tile's memory)."""
    from uvscope.io.mosaic import downsample_tile

    lab = np.arange(1040 * 1392, dtype=np.uint32).reshape(1040, 1392)
    gray = lab.astype(np.float32)
    for img, mode in ((lab, "paste"), (gray, "mean")):
        layer = Layer(lambda k: None, img.dtype, mode=mode)  # type: ignore[arg-type]
        small = downsample_tile(img, layer, 2)
        assert small.base is None and small.nbytes == img.nbytes // 4
