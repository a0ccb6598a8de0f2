"""The analysis with the default CPU engine gives torch eager's cells (stated tolerance).

Tolerance: network outputs within 1e-4 (tests/models/test_runtime.py), so label images may
differ only at pixels whose probability lies that close to a threshold, and cells, classes and
the stained tile (uint8) come out the same up to one gray level.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.weights import require_shipped_weights
from uvscope.acquisition.tiles import TileSpec
from uvscope.analysis.evaluate import SimCamera, wbc_field_centres
from uvscope.analysis.pipeline import TilePipeline
from uvscope.analysis.settings import AnalysisSettings
from uvscope.models import runtime

ENGINES = [e for e in ("openvino", "onnxruntime") if runtime.available(e)]


def _settings(engine: str) -> AnalysisSettings:
    s = AnalysisSettings()
    return s.replace(inference={**s.inference.model_dump(), "engine": engine})


@pytest.fixture(scope="module")
def setup():
    from uvscope.analysis.models import load_models

    require_shipped_weights("segment", "stain", "classify")
    models = load_models("default", "default", "default", device="cpu")
    cam = SimCamera("random-7", 7, shape=(520, 696))
    tiles = [
        cam.tile(TileSpec(k, 0, k, x * 1e-3, y * 1e-3))
        for k, (x, y) in enumerate(wbc_field_centres(cam, 2, seed=3))
    ]
    return models, tiles, TilePipeline(models, _settings("torch")).analyse(tiles)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_cells_and_stain_agree_with_torch_eager(setup, engine):
    models, tiles, ref = setup
    pipe = TilePipeline(models, _settings(engine))
    assert pipe.engines == {"segmenter": engine, "stainer": engine, "classifier": engine}
    got = pipe.analyse(tiles)
    TilePipeline(models, _settings("torch"))  # leave the shared models as other tests expect
    assert sum(len(r.cells) for r in ref) >= 2  # the fields hold WBCs
    for a, b in zip(ref, got, strict=True):
        assert [c.cell_class for c in a.cells] == [c.cell_class for c in b.cells]
        assert np.mean(a.labels != b.labels) < 1e-4
        for ca, cb in zip(a.cells, b.cells, strict=True):
            assert abs(ca.p_lymphocyte - cb.p_lymphocyte) < 1e-3
            assert abs(ca.cell_area_um2 - cb.cell_area_um2) <= 0.01 * ca.cell_area_um2
        assert np.abs(a.stained.astype(int) - b.stained.astype(int)).max() <= 1


def test_unknown_engine_is_a_settings_error():
    with pytest.raises(ValueError, match="engine"):
        _settings("tensorrt")
