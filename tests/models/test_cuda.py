"""CPU (float32) and CUDA (bf16 autocast, channels-last) agree for each network.

Skipped without a GPU; ``benchmarks/gpu_check.sh`` runs them (``pytest -m cuda``) where one is.
Tolerances: bf16 keeps 8 bits of mantissa, so probabilities and colours may move by a few
hundredths where a logit sits near 0; the pipeline must still find the same cells.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uvscope.models.arch import preset
from uvscope.models.predict import (
    CellClassifier,
    Segmenter,
    Stainer,
    load_classifier,
    load_segmenter,
    load_stainer,
)
from uvscope.models.registry import build_network

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]
TOL = 0.05


def _image(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


@pytest.mark.parametrize("loader", [load_segmenter, load_stainer])
def test_shipped_image_networks_agree(loader):
    x = _image((2, 208, 272))
    cpu = loader("default", device="cpu").predict(x)
    gpu = loader("default", device="cuda").predict(x)
    for a, b in zip(*(v if isinstance(v, tuple) else (v,) for v in (cpu, gpu)), strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() < TOL
        assert np.abs(a - b).mean() < TOL / 10


def test_shipped_classifier_agrees():
    clf_cpu = load_classifier("default", device="cpu")
    s = clf_cpu.crop_size
    crops = _image((8, 3, s, s))
    d0, c0 = clf_cpu.predict_raw(crops)
    d1, c1 = load_classifier("default", device="cuda").predict_raw(crops)
    assert np.abs(d0 - d1).max() < TOL and np.abs(c0 - c1).max() < TOL


@pytest.mark.parametrize("kind,cls", [("segment", Segmenter), ("stain", Stainer),
                                      ("classify", CellClassifier)])  # fmt: skip
def test_paper_sized_networks_agree(kind, cls):
    cfg = preset(kind, "paper")
    torch.manual_seed(0)
    net = build_network(kind, cfg).eval()
    card = {"kind": kind, "random": True}
    cpu = cls(net, cfg, card, device="cpu")
    gpu = cls(build_network(kind, cfg).eval(), cfg, card, device="cuda")
    gpu.net.load_state_dict(net.state_dict())
    if kind == "classify":
        x = _image((4, 3, cfg.crop_size, cfg.crop_size))
        outs = cpu.predict_raw(x), gpu.predict_raw(x)
    else:
        x = _image((1, 256, 320))
        outs = cpu.predict(x), gpu.predict(x)
    for a, b in zip(*(v if isinstance(v, tuple) else (v,) for v in outs), strict=True):
        assert np.abs(a - b).mean() < TOL / 5  # random weights: compare the bulk, not outliers


def test_pipeline_finds_the_same_cells_on_cuda():
    from uvscope.acquisition.tiles import TileSpec
    from uvscope.analysis.evaluate import SimCamera, wbc_field_centres
    from uvscope.analysis.models import load_models
    from uvscope.analysis.pipeline import TilePipeline
    from uvscope.analysis.settings import AnalysisSettings

    cam = SimCamera("random-7", 7, shape=(520, 696))
    tiles = [cam.tile(TileSpec(k, 0, k, x * 1e-3, y * 1e-3))
             for k, (x, y) in enumerate(wbc_field_centres(cam, 2, seed=3))]  # fmt: skip
    res = {}
    for dev in ("cpu", "cuda"):
        s = AnalysisSettings()
        s = s.replace(inference={**s.inference.model_dump(), "device": dev})
        res[dev] = TilePipeline(load_models(device=dev), s).analyse(tiles)
    for a, b in zip(res["cpu"], res["cuda"], strict=True):
        assert [c.cell_class for c in a.cells] == [c.cell_class for c in b.cells]
        assert np.mean(a.labels != b.labels) < 0.01
