"""The OME-Zarr export: NGFF structure, labels with class colours, stage coordinates."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.analysis.conftest import PX_UM, SHAPE
from tests.analysis.scanfolder_fixture import write_scan_folder
from tests.analysis.synth import fake_models, grid_specs, make_tile, random_slide
from uvscope.analysis.session import analyse_scan_folder
from uvscope.analysis.settings import AnalysisSettings
from uvscope.classes import CLASS_COLOURS, LABEL_STRIDE
from uvscope.io.zarr_export import export_ome_zarr

zarr = pytest.importorskip("zarr")


@pytest.fixture
def analysed(tmp_path: Path) -> Path:
    specs = grid_specs(2, 2, SHAPE, PX_UM, 0.3, origin_mm=(42.0, 31.0))  # far from 0 on stage
    xs, ys = [s.x_mm * 1e3 for s in specs], [s.y_mm * 1e3 for s in specs]
    cells = random_slide(30, (min(xs) - 20, max(xs) + 20), (min(ys) - 15, max(ys) + 15), 5)
    tiles = [make_tile(s, cells, SHAPE, PX_UM) for s in specs]
    root = tmp_path / "scan"
    write_scan_folder(root, specs, tiles)
    analyse_scan_folder(root, fake_models(), AnalysisSettings())
    return root


def _to_pixel(ms: dict, level: int, y_um: float, x_um: float) -> tuple[int, int]:
    tf = ms["datasets"][level]["coordinateTransformations"]
    scale, trans = tf[0]["scale"][-2:], tf[1]["translation"][-2:]
    return int(round((y_um - trans[0]) / scale[0])), int(round((x_um - trans[1]) / scale[1]))


def test_export_places_each_counted_cell_at_its_table_coordinates(analysed: Path) -> None:
    stores = export_ome_zarr(analysed)
    assert [p.name for p in stores] == ["mosaic.ome.zarr", "mosaic_stained.ome.zarr"]
    g = zarr.open_group(stores[0], mode="r")
    ms = g.attrs["multiscales"][0]
    assert ms["version"] == "0.4" and [a["name"] for a in ms["axes"]] == ["c", "y", "x"]
    assert ms["axes"][1]["unit"] == "micrometer"
    lab_group = g["labels"]["cells"]
    lab = np.asarray(lab_group["0"])
    lab_ms = lab_group.attrs["multiscales"][0]
    assert lab.dtype == np.uint32 and lab.shape == g["0"].shape[1:]
    with open(analysed / "analysis" / "cells.csv", newline="") as fh:
        cells = list(csv.DictReader(fh))
    assert cells
    colours = {
        c["label-value"]: tuple(c["rgba"][:3]) for c in lab_group.attrs["image-label"]["colors"]
    }
    for c in cells:
        value = int(c["tile"]) * LABEL_STRIDE + int(c["label"])
        assert colours[value] == CLASS_COLOURS[c["cell_class"]]
        r, k = _to_pixel(lab_ms, 0, float(c["y_um"]), float(c["x_um"]))
        window = lab[max(r - 2, 0) : r + 3, max(k - 2, 0) : k + 3]
        assert value in window, f"cell {c['cell_id']} not at its x_um/y_um in the labels"
    assert float(cells[0]["x_um"]) > 40_000 and "." in cells[0]["x_um"]
    assert len(cells[0]["x_um"].split(".")[1]) == 3  # nm digits at 42 mm


def test_ome_zarr_reader_sees_an_image_with_a_labels_layer(analysed: Path) -> None:
    reader_mod = pytest.importorskip("ome_zarr.reader")
    io_mod = pytest.importorskip("ome_zarr.io")
    store = export_ome_zarr(analysed)[0]
    nodes = list(reader_mod.Reader(io_mod.parse_url(str(store)))())
    kinds = {type(s).__name__ for n in nodes for s in n.specs}
    assert {"Multiscales", "Label"} <= kinds
    image = nodes[0]
    assert len(image.data) >= 1 and image.data[0].shape[0] == 1  # (c, y, x) pyramid
    label = next(n for n in nodes if any(type(s).__name__ == "Label" for s in n.specs))
    assert label.metadata.get("color")  # per-label colours parsed from image-label
