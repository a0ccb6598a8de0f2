from pathlib import Path

import numpy as np
import tifffile

from uvscope.analysis.mosaic import KINDS, LABEL_STRIDE, TileSources, write_analysis_mosaics
from uvscope.classes import CLASS_COLOURS


def test_label_mosaic_ids_beyond_uint16_range(tmp_path: Path):
    # tile 12 of a scan: its cells get ids 120001.. in the label mosaic (uint16 tiles in)
    lab = np.zeros((20, 30), np.uint16)
    lab[5:10, 5:10] = 1
    lab[12:15, 20:24] = 2  # not counted: not in the mosaic
    origins = {12: np.array([0.0, 0.0]), 13: np.array([0.0, 25.0])}
    paths = {k: tmp_path / f"{k}.ome.tif" for k in KINDS}
    write_analysis_mosaics(
        paths,
        origins,
        (20, 30),
        0.32,
        TileSources(
            gray=lambda k: np.ones((20, 30), np.float32),
            stained=lambda k: None,
            labels=lambda k: lab,
        ),
        counted={12: {1: "neutrophil"}, 13: {1: "lymphocyte"}},
        stained=False,
    )
    labels = tifffile.imread(paths["labels"])
    assert labels.dtype == np.uint32
    ids = set(np.unique(labels)) - {0}
    assert ids == {12 * LABEL_STRIDE + 1, 13 * LABEL_STRIDE + 1}
    outlines = tifffile.imread(paths["outlines"])
    colours = {tuple(int(v) for v in c) for c in outlines.reshape(-1, 3)} - {(0, 0, 0)}
    assert colours == {CLASS_COLOURS["neutrophil"], CLASS_COLOURS["lymphocyte"]}
    assert not paths["stained"].exists()
