"""``inference.tiling``: whole tiles (the default) and overlapping patches.

Whole tiles do ~1.4x less network work than 128-px patches with a 32-px overlap; on held-out
fields at real size the masks agree (benchmarks/RESULTS.md, bench_inference_modes.py: cell
Dice 0.9846 vs 0.9854 against the truth, the two modes' masks at Dice >= 0.989 per field).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.weights import require_shipped_weights
from uvscope.acquisition.tiles import TileSpec
from uvscope.analysis.evaluate import SimCamera, wbc_field_centres
from uvscope.analysis.models import ModelSet
from uvscope.analysis.pipeline import TilePipeline
from uvscope.analysis.settings import AnalysisSettings

from .synth import FakeClassifier, FakeSegmenter, FakeStainer


def _settings(tiling: str) -> AnalysisSettings:
    return AnalysisSettings.model_validate({"inference": {"tiling": tiling}})


class _ShapeRecorder(FakeSegmenter):
    def __init__(self) -> None:
        super().__init__(patch_size=64)
        self.shapes: list[tuple[int, ...]] = []

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.shapes.append(batch.shape)
        return super().predict(batch)


def test_whole_is_the_default_and_runs_each_tile_in_one_call() -> None:
    assert AnalysisSettings().inference.tiling == "whole"
    seg = _ShapeRecorder()
    pipe = TilePipeline(ModelSet(seg, None, FakeClassifier()), _settings("whole"))
    gray = np.random.default_rng(0).random((200, 300)).astype(np.float32)
    ((cell, nuc),) = pipe.segment([gray], 0.32)
    assert len(seg.shapes) == 1
    n, h, w = seg.shapes[0]
    assert n == 1 and h >= 200 and w >= 300 and h % 32 == 0 and w % 32 == 0
    assert cell.shape == nuc.shape == (200, 300)
    # pixelwise network: whole-tile output equals the network on the tile itself
    ref_cell, _ = FakeSegmenter().predict(pipe._to_model([gray], 0.32, 0.32)[0][None])
    np.testing.assert_allclose(cell, ref_cell[0], atol=1e-6)


def test_patches_cut_the_tile_into_the_network_patch() -> None:
    seg = _ShapeRecorder()
    pipe = TilePipeline(ModelSet(seg, FakeStainer(), FakeClassifier()), _settings("patches"))
    gray = np.random.default_rng(1).random((200, 300)).astype(np.float32)
    pipe.segment_and_stain([gray], 0.32)
    assert {s[1:] for s in seg.shapes} == {(64, 64)}
    assert sum(s[0] for s in seg.shapes) > 1


def test_a_bad_tiling_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="tiling"):
        _settings("tiles")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def test_shipped_networks_agree_between_whole_tiles_and_patches() -> None:
    from uvscope.analysis.models import load_models

    require_shipped_weights("segment", "stain", "classify")
    models = load_models("default", "default", "default", device="cpu")
    cam = SimCamera("random-103", 103, shape=(520, 696))
    (x, y), *_ = wbc_field_centres(cam, 1, seed=5)
    tile = cam.tile(TileSpec(0, 0, 0, x * 1e-3, y * 1e-3))
    gray = tile.normalised[260]
    out = {}
    for tiling in ("whole", "patches"):
        pipe = TilePipeline(models, _settings(tiling))
        ((cell, nuc),), (rgb,) = pipe.segment_and_stain([gray], tile.pixel_size_um)
        out[tiling] = (cell > 0.5, nuc > 0.5, rgb)
    (cw, nw, rw), (cp, np_, rp) = out["whole"], out["patches"]
    assert cw.sum() > 500  # a WBC-centred field: there is a cell to compare
    assert _dice(cw, cp) >= 0.98
    assert _dice(nw, np_) >= 0.97
    assert np.abs(rw.astype(int) - rp.astype(int)).mean() < 2.0
