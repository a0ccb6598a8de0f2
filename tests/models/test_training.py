import dataclasses

import numpy as np
import pytest
import torch

from uvscope.errors import ModelError
from uvscope.models.arch import ClassifyConfig, SegConfig, StainConfig
from uvscope.models.checkpoint import load_checkpoint, save_checkpoint
from uvscope.models.deadcheck import DeadCheckpoint, crop_features
from uvscope.models.losses import bce_dice_loss
from uvscope.models.predict import load_stainer
from uvscope.models.registry import save_model
from uvscope.models.train_classify import CropArrays, balanced_indices, train_classifier
from uvscope.models.train_segment import train_segmenter
from uvscope.models.train_stain import train_stainer

from .conftest import disk_tile


def _seg(tmp_path, epochs, **kw):
    tiles = [disk_tile(i, 48) for i in range(3)]
    cfg = SegConfig(base_width=4, depth=2, patch_size=32)
    args = {"lr": 1e-2, "patches_per_epoch": 24, "log": lambda s: None, **kw}
    return train_segmenter(tiles[:2], tiles[2:], cfg, epochs, tmp_path, "cpu", 0, **args), cfg


def test_segmentation_training_lowers_loss_and_resumes(tmp_path):
    (_, hist), _ = _seg(tmp_path, 3)
    losses = [e["train_loss"] for e in hist.epochs]
    assert losses[-1] < 0.92 * losses[0]
    (_, hist2), _ = _seg(tmp_path, 4, resume=True)
    assert [e["epoch"] for e in hist2.epochs] == [0, 1, 2, 3]
    assert hist2.epochs[:3] == hist.epochs


def _score(hist, i):
    e = hist.epochs[i]
    return 0.5 * (e["val_cell_dice"] + e["val_nucleus_dice"])


def test_fine_tuning_continues_from_the_start_weights(tmp_path):
    (net, h0), cfg = _seg(None, 7)
    save_model(net, "segment", cfg, tmp_path / "start.safetensors", {})
    (_, hist), _ = _seg(None, 4, init=tmp_path / "start.safetensors")
    # from scratch the first epochs score ~0; from the start weights they begin where it ended
    assert _score(hist, 0) > 0.5 * _score(h0, -1) > 0.2
    assert hist.best_epoch >= 0 and hist.best_score > _score(h0, -1)


def test_fine_tuning_keeps_start_weights_unless_validation_improves(tmp_path):
    (net, _), cfg = _seg(None, 12)
    save_model(net, "segment", cfg, tmp_path / "start.safetensors", {})
    # a ruinous learning rate wrecks every epoch: the start weights must come back unchanged
    (tuned, hist), _ = _seg(None, 2, init=tmp_path / "start.safetensors", lr=50.0)
    assert hist.best_epoch == -1
    for k, v in net.state_dict().items():
        assert torch.equal(v, tuned.state_dict()[k]), k
    with pytest.raises(ModelError, match="same architecture"):
        train_segmenter(
            [disk_tile(0, 48)],
            [disk_tile(1, 48)],
            SegConfig(base_width=8, depth=2, patch_size=32),
            1,
            None,
            "cpu",
            init=tmp_path / "start.safetensors",
            log=lambda s: None,
        )


def test_nucleus_weight_shifts_the_loss_to_the_nucleus_channel():
    logits = torch.zeros(2, 2, 8, 8)
    logits[:, 0] = -20.0  # the cell channel is right (empty), the nucleus channel unsure
    target = torch.zeros(2, 2, 8, 8)
    target[:, 1, 2:6, 2:6] = 1
    even = bce_dice_loss(logits, target)
    assert bce_dice_loss(logits, target, (1.0, 1.0)) == pytest.approx(float(even))
    assert (
        bce_dice_loss(logits, target, (1.0, 3.0)) > even > bce_dice_loss(logits, target, (3.0, 1.0))
    )


def test_stain_training_runs_and_is_loadable_shape():
    tiles = [disk_tile(i) for i in range(3)]
    cfg = StainConfig(base_width=4, depth=2, disc_width=4, patch_size=48)
    gen, hist = train_stainer(
        tiles[:2],
        tiles[2:],
        cfg,
        2,
        None,
        "cpu",
        0,
        patches_per_epoch=8,
        batch_size=4,
        log=lambda s: None,
    )
    assert len(hist.epochs) == 2 and all(np.isfinite(e["g_loss"]) for e in hist.epochs)
    assert gen(torch.rand(1, 1, 32, 32)).shape == (1, 3, 32, 32)
    cfg_l = dataclasses.replace(cfg, predict_l=True)
    gen_l, _ = train_stainer(
        tiles[:1],
        tiles[2:],
        cfg_l,
        1,
        None,
        "cpu",
        0,
        patches_per_epoch=4,
        batch_size=4,
        log=lambda s: None,
    )
    assert gen_l.predict_l


def test_classifier_training_lowers_loss_and_balances():
    rng = np.random.default_rng(0)
    n = 40
    label = np.array([0] * 30 + [2] * 5 + [-1] * 5)
    dead = (label == -1).astype(int)
    x = rng.random((n, 3, 16, 16)).astype(np.float32) * 0.1
    x[label == 2, 1] += 0.8  # a learnable difference
    x[dead == 1, 0] += 0.8
    data = CropArrays(x, label, dead)
    cfg = ClassifyConfig(width=4, crop_size=16, dropout=0.0)
    _, hist, extra = train_classifier(
        data,
        data,
        cfg,
        6,
        None,
        "cpu",
        0,
        lr=1e-2,
        batch_size=16,
        samples_per_epoch=64,
        log=lambda s: None,
    )
    losses = [e["train_loss"] for e in hist.epochs]
    assert losses[-1] < 0.8 * losses[0]
    assert "checkpoint" in extra
    idx = balanced_indices(label, dead, 3000, rng)
    counts = np.bincount(np.where(dead[idx] > 0, 5, label[idx]), minlength=6)
    assert counts[2] == pytest.approx(1000, rel=0.15) and counts[5] == pytest.approx(1000, rel=0.15)


def test_dead_checkpoint_hands_back_cells_inside_healthy_ranges():
    crops = np.zeros((2, 3, 16, 16), np.float32)
    crops[:, 2, 4:12, 4:12] = 0.5
    crops[:, 0, 6:10, 6:10] = 0.5
    crops[:, 1, 4:12, 4:12] = 0.4
    crops[1, 2] = 0
    crops[1, 2, 7:9, 7:9] = 0.5  # shrunken cell
    feats = crop_features(crops)
    assert feats[0].tolist() == [64.0, pytest.approx(0.4), 1.0, 16.0]
    ck = DeadCheckpoint.fit(np.repeat(feats[:1], 5, 0), pct=0)
    out = ck.apply(np.array([0.9, 0.9]), feats)
    assert out.tolist() == [0.0, pytest.approx(0.9)]
    assert (
        dataclasses.replace(ck, enabled=False).apply(np.array([0.9, 0.9]), feats).tolist()
        == [pytest.approx(0.9)] * 2
    )


def test_checkpoint_roundtrip_restores_optimizer(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.rand(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "ck", {"net": net}, [opt], {"epoch": 3})
    net2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.Adam(net2.parameters(), lr=0.5)
    st = load_checkpoint(tmp_path / "ck", {"net": net2}, [opt2])
    assert st == {"epoch": 3} and torch.equal(net.weight, net2.weight)
    assert opt2.param_groups[0]["lr"] == 0.1
    assert torch.equal(opt.state[net.weight]["exp_avg"], opt2.state[net2.weight]["exp_avg"])


def test_random_stainer_outputs_rgb_in_range():
    st = load_stainer("random", device="cpu")
    out = st.predict(np.random.rand(1, 40, 50).astype(np.float32))
    assert out.shape == (1, 40, 50, 3) and out.min() >= 0 and out.max() <= 1
