import numpy as np

from uvscope.analysis.mosaic import LABEL_STRIDE, build_mosaics


def test_label_mosaic_ids_beyond_uint16_range():
    # tile 12 of a scan: its cells get ids 120001.. in the label mosaic (uint16 tiles in)
    lab = np.zeros((20, 30), np.uint16)
    lab[5:10, 5:10] = 1
    origins = {12: np.array([0.0, 0.0]), 13: np.array([0.0, 25.0])}
    m = build_mosaics(
        origins, (20, 30), 0.32,
        load_gray=lambda k: np.ones((20, 30), np.float32),
        load_stained=lambda k: None,
        load_labels=lambda k: lab,
        counted={12: {1: "neutrophil"}, 13: {1: "lymphocyte"}},
    )
    ids = set(np.unique(m.labels)) - {0}
    assert ids == {12 * LABEL_STRIDE + 1, 13 * LABEL_STRIDE + 1}
