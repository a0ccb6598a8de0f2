"""What a scan stores per tile, and that uvscope reads the same normalised arrays either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.acquisition._focus_world import small_rig, small_scan
from uvscope.acquisition.prepare import prepare_scan
from uvscope.io.scanfolder import ScanFolder


def _scan(tmp_path: Path, save_raw: bool):
    rig, _ = small_rig()
    out = tmp_path / ("raw" if save_raw else "noraw")
    tiles = []
    # wired as `uvscope scan` wires it: the stage mosaics too
    engine = prepare_scan(rig, small_scan(rows=1, columns=3).replace(save_raw=save_raw), out)
    engine.events.tile_acquired.connect(tiles.append)
    assert engine.run().status == "complete"
    return ScanFolder.open(out), tiles


@pytest.mark.parametrize("save_raw", [True, False])
def test_read_tile_returns_what_the_scan_computed(tmp_path: Path, save_raw: bool):
    folder, tiles = _scan(tmp_path, save_raw)
    assert len(folder.verified_tiles()) == len(tiles) == 3
    for t in tiles:
        for nm, norm in t.normalised.items():
            # stored once: the raw frame when kept (normalised derived on read), else normalised
            assert folder.raw_path(t.index, nm).exists() == save_raw
            assert folder.tile_path(t.index, nm).exists() == (not save_raw)
            img, meta = folder.read_tile(t.index, nm)
            np.testing.assert_array_equal(img, norm)  # bit for bit
            assert img.dtype == np.float32 and meta.wavelength_nm == nm


def _tags(path: Path) -> dict[str, object]:
    with tifffile.TiffFile(path) as tf:
        p = tf.pages.first
        return {
            "compression": p.compression,
            "predictor": p.predictor,
            "x_resolution": p.tags["XResolution"].value,
            "unit": p.tags["ResolutionUnit"].value,
            "ome": tf.is_ome,
        }


def test_images_are_compressed_losslessly_with_resolution_tags(tmp_path: Path):
    folder, tiles = _scan(tmp_path, True)
    px_um = tiles[0].pixel_size_um
    raw = _tags(folder.raw_path(0, 260))
    assert raw["compression"] == tifffile.COMPRESSION.ADOBE_DEFLATE
    assert raw["predictor"] == tifffile.PREDICTOR.HORIZONTAL  # integers: predictor 2
    bg = _tags(folder.background_path(260))
    assert bg["compression"] == tifffile.COMPRESSION.ADOBE_DEFLATE
    assert bg["predictor"] == tifffile.PREDICTOR.NONE  # never 3: Bio-Formats cannot read it
    for tags in (raw, bg, _tags(folder.mosaic_path(260))):
        num, den = tags["x_resolution"]
        assert tags["unit"] == tifffile.RESUNIT.CENTIMETER and tags["ome"]
        if tags is not raw and tags is not bg:
            continue  # the mosaic may be downsampled
        assert 1e4 / (num / den) == pytest.approx(px_um, rel=1e-6)
