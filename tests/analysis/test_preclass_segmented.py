"""The shipped segmentation masks blasts (probability 0.00 with the earlier weights) as whole
cells, and no white cell in piled-up red cells and debris (smudge cells are still mostly
missed: docs/preclassification.md). Slide seed 401 was used by no training export (training:
the donors at their own seeds, @7, @8; validation @52; test @101)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.weights import require_shipped_weights
from uvscope.acquisition.tiles import TileSpec
from uvscope.analysis.evaluate import SimCamera, wbc_field_centres
from uvscope.analysis.pipeline import TilePipeline
from uvscope.analysis.settings import AnalysisSettings
from uvscope.models.simgen import clutter_profile
from uvscope.sim import donors

SEED = 401
SHAPE = (384, 384)


@pytest.fixture(scope="module")
def pipe() -> TilePipeline:
    from uvscope.analysis.models import load_models

    require_shipped_weights("segment", "classify")
    p = TilePipeline(load_models("default", None, "default", device="cpu"), AnalysisSettings())
    p.cores = None
    return p


def _best_iou(truth: np.ndarray, labels: np.ndarray) -> float:
    """IoU of a true cell mask with the predicted instance that overlaps it most."""
    ids, n = np.unique(labels[truth & (labels > 0)], return_counts=True)
    if not len(ids):
        return 0.0
    pred = labels == ids[np.argmax(n)]
    return float((pred & truth).sum() / (pred | truth).sum())


@pytest.mark.parametrize("kind", ["blast"])
def test_blasts_are_masked_whole(pipe: TilePipeline, kind: str) -> None:
    cam = SimCamera("acute-leukaemia-like", SEED, shape=SHAPE)
    ious = []
    for k, (x_um, y_um) in enumerate(wbc_field_centres(cam, 2, seed=1, kinds=(kind,))):
        x, y = x_um * 1e-3, y_um * 1e-3
        (r,) = pipe.analyse([cam.tile(TileSpec(k, 0, k, x, y))])
        gt = cam.world.ground_truth(x, y)
        assert r.labels is not None and r.labels.shape == gt.cell_labels.shape
        for c in gt.cells:
            m = gt.cell_labels == c.id
            rr, cc = np.nonzero(m)
            inside = len(rr) and rr.min() > 0 and cc.min() > 0
            if c.kind == kind and inside and rr.max() < SHAPE[0] - 1 and cc.max() < SHAPE[1] - 1:
                ious.append(_best_iou(m, r.labels))
    assert len(ious) >= 2, ious
    assert min(ious) >= 0.6, ious  # the earlier weights: 0.0 (no pixel of these cells)


def test_no_white_cell_in_piled_red_cells(pipe: TilePipeline, monkeypatch) -> None:
    """The hard negatives of training, at a slide seed training never saw."""
    monkeypatch.setitem(donors.DONORS, "clutter", lambda: clutter_profile("healthy"))
    cam = SimCamera("clutter", SEED, shape=(512, 640))
    cx, cy = cam.world.smear_centre_mm()
    specs = [TileSpec(k, 0, k, cx + 0.4 * k, cy + 0.3 * k) for k in range(3)]
    results = pipe.analyse([cam.tile(s) for s in specs])
    assert sum(len(r.cells) for r in results) == 0, [r.removed for r in results]
