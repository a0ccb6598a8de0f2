"""UR-Net (paper 002): enhancer shapes, identity pre-training, selectable classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uvscope.models.arch import ClassifyConfig
from uvscope.models.classifiers import TwoStageClassifier
from uvscope.models.train_classify import CropArrays, train_classifier
from uvscope.models.urnet import ResUNetEnhancer, pretrain_identity


def test_enhancer_keeps_the_shape_and_learns_the_identity() -> None:
    torch.manual_seed(0)
    enh = ResUNetEnhancer(3, width=4)
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    x = torch.stack(  # smooth crops, as cells are
        [torch.stack([torch.sin(xx / (3 + i) + c) * 0.4 + 0.5 for c in range(3)]) for i in range(8)]
    )
    assert enh(x).shape == x.shape
    with torch.no_grad():
        before = float(torch.nn.functional.mse_loss(enh(x), x))
    after = pretrain_identity(enh, x, epochs=60, batch_size=8, gen=torch.Generator().manual_seed(0))
    assert after < 0.25 * before


@pytest.mark.slow
def test_urnet_classifier_trains_end_to_end_from_an_identity_enhancer() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((40, 3, 16, 16), dtype=np.float32)
    lab = np.arange(40) % 5
    x[:, 1] += lab[:, None, None] * 0.2  # a learnable class cue
    data = CropArrays(x.clip(0, 1), lab, np.zeros(40, int))
    cfg = ClassifyConfig(backbone="urnet", width=4, crop_size=16)
    lines: list[str] = []
    net, hist, extras = train_classifier(
        data, data, cfg, 1, samples_per_epoch=32, batch_size=16, log=lines.append
    )
    assert isinstance(net, TwoStageClassifier) and "enhancer_identity_mse" in extras
    assert any("identity map" in s for s in lines)
    assert extras["dead_head"] == "absent"
    d, c = net(torch.from_numpy(x[:4]))
    assert c.shape == (4, 5) and d.shape == (4, 2)
