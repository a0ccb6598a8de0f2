"""Every image of an analysed scan folder: OME-XML valid against the OME 2016-06 schema, and
opened by readers uvscope did not write (tifffile's OME series, bioio's OME-TIFF reader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.acquisition._focus_world import small_rig, small_scan
from tests.analysis.synth import fake_models
from uvscope.acquisition.prepare import prepare_scan
from uvscope.analysis.session import session_for_scan

ome_types = pytest.importorskip("ome_types")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import uvscope.analysis.models as models_mod

    out = tmp_path_factory.mktemp("interop") / "scan"
    rig, _ = small_rig()
    scan = small_scan(rows=2, columns=2).replace(
        save_raw=True, analysis={"enabled": True, "report": False}
    )
    real = models_mod.load_models
    models_mod.load_models = lambda *a, **k: fake_models()  # stand-in networks
    try:
        sink = session_for_scan(scan, out)
    finally:
        models_mod.load_models = real
    # wired as `uvscope scan` wires it: the stage mosaics after the analysis
    assert prepare_scan(rig, scan, out, sinks=[sink]).run().status == "complete"
    return out


def _images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.tif") if ".zarr" not in str(p))


def test_every_image_is_schema_valid_ome_with_resolution_tags(analysed: Path) -> None:
    images = _images(analysed)
    kinds = {p.parent.name for p in images}
    assert {"raw", "background", "mosaic", "labels", "stained", "analysis"} <= kinds
    for p in images:
        with tifffile.TiffFile(p) as tf:
            xml = tf.ome_metadata
            page = tf.pages.first
            assert xml, p
            assert page.tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER, p
            assert page.predictor != 3, p  # Bio-Formats cannot read floating-point predictor
            assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE, p
            tf.series[0].asarray()
        ome_types.validate_xml(xml)  # raises on a schema violation
        meta = ome_types.from_xml(xml)
        assert meta.images[0].pixels.physical_size_x, p
    gray = analysed / "analysis" / "mosaic_gray.ome.tif"
    plane = ome_types.from_xml(tifffile.TiffFile(gray).ome_metadata).images[0].pixels.planes[0]
    assert plane.position_x is not None and plane.position_y is not None  # stage position


def test_bioio_reads_tiles_and_mosaics_with_their_pixel_size(analysed: Path) -> None:
    bioio = pytest.importorskip("bioio")
    reader = pytest.importorskip("bioio_ome_tiff").Reader
    for p in (
        next((analysed / "raw").glob("*.tif")),
        analysed / "analysis" / "mosaic_gray.ome.tif",
        analysed / "analysis" / "mosaic_labels.ome.tif",
    ):
        img = bioio.BioImage(p, reader=reader)
        data = img.get_image_data("YX")
        assert data.shape == tifffile.imread(p).shape and np.isfinite(data).all()
        assert img.physical_pixel_sizes.X is not None and img.physical_pixel_sizes.X > 0
