from pathlib import Path

import numpy as np
import pytest
import tifffile

from uvscope.errors import StorageError
from uvscope.io.mosaic import blend_tiles
from uvscope.io.mosaic_pyramid import write_pyramid
from uvscope.io.ome import ImageMeta, read_ome_tiff, tiff_damage, write_ome_tiff
from uvscope.io.scanfolder import ScanFolder


def test_ome_round_trip_keeps_pixels_and_metadata(tmp_path: Path):
    img = np.arange(96 * 128, dtype=np.uint16).reshape(96, 128)
    meta = ImageMeta(0.16, 280, 4.0, 41.25, 31.5, 5012.5, "tile 3")
    p = write_ome_tiff(tmp_path / "a.ome.tif", img, meta)
    back, m = read_ome_tiff(p)
    np.testing.assert_array_equal(back, img)
    assert m == meta
    assert not list(tmp_path.glob("*.part"))


def test_rgb_and_float(tmp_path: Path):
    rgb = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    back, _ = read_ome_tiff(write_ome_tiff(tmp_path / "rgb.ome.tif", rgb, ImageMeta(0.32)))
    np.testing.assert_array_equal(back, rgb)
    f = np.random.default_rng(1).random((20, 30), dtype=np.float32)
    back, _ = read_ome_tiff(write_ome_tiff(tmp_path / "f.ome.tif", f, ImageMeta(0.32)))
    np.testing.assert_array_equal(back, f)


def test_truncated_tiff_gives_storage_error(tmp_path: Path):
    p = write_ome_tiff(tmp_path / "a.ome.tif", np.ones((64, 64), np.uint16), ImageMeta(0.16))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(StorageError, match="truncated or damaged"):
        read_ome_tiff(p)
    with pytest.raises(StorageError, match="no such file"):
        read_ome_tiff(tmp_path / "missing.ome.tif")


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiff_damage_spots_truncation_without_reading_pixels(tmp_path: Path, compression):
    img = np.random.default_rng(2).random((96, 128), dtype=np.float32)
    p = write_ome_tiff(tmp_path / "a.ome.tif", img, ImageMeta(0.16, 260), compression)
    assert tiff_damage(p) is None
    data = p.read_bytes()
    for keep in (0, 100, len(data) // 3, len(data) - 1200):
        p.write_bytes(data[:keep])
        assert tiff_damage(p) is not None, keep
        with pytest.raises(StorageError):
            read_ome_tiff(p)
    p.write_bytes(b"II*\x00 not really a tiff")
    assert "not a readable TIFF" in tiff_damage(p)
    assert tiff_damage(tmp_path / "gone.ome.tif") == "missing"


def test_pyramid_has_levels_and_pixel_size(tmp_path: Path):
    img = np.random.default_rng(0).random((1100, 700), dtype=np.float32)
    p = write_pyramid(tmp_path / "m.ome.tif", img, 0.64, meta=ImageMeta(0.64, 260))
    with tifffile.TiffFile(p) as tf:
        levels = tf.series[0].levels
        assert len(levels) >= 2 and levels[1].shape == (550, 350)
        np.testing.assert_array_equal(levels[0].asarray(), img)
        assert 'PhysicalSizeX="0.64"' in tf.ome_metadata
        assert 'ExcitationWavelength="260.0"' in tf.ome_metadata


def test_manifest_from_another_version_is_refused(tmp_path: Path):
    folder = ScanFolder.create(tmp_path / "s", {"plan": {}})
    m = folder.read_manifest()
    m["format_version"] = 99
    folder.write_manifest(m)
    with pytest.raises(StorageError, match="format version 99"):
        ScanFolder.open(tmp_path / "s")
    with pytest.raises(StorageError, match="not a scan folder"):
        ScanFolder.open(tmp_path)


def test_blend_places_tiles_by_stage_position():
    px = 1.0  # um
    a = np.full((10, 20), 2.0, np.float32)
    b = np.full((10, 20), 4.0, np.float32)
    # b is 15 um to the right of a: 5 px overlap
    bounds = (0.0, 0.0, 0.035, 0.010)
    m = blend_tiles([(a, 0.0095, 0.0045), (b, 0.0245, 0.0045)], bounds, px)
    assert m[5, 2] == pytest.approx(2.0) and m[5, 30] == pytest.approx(4.0)
    mid = m[5, 15:20]
    assert np.all((mid > 2.0) & (mid < 4.0)) and np.all(np.diff(mid) > 0)  # linear ramp
