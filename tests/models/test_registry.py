import json

import numpy as np
import pytest
import torch

from uvscope.errors import ModelError
from uvscope.models.arch import ClassifyConfig, SegConfig
from uvscope.models.predict import load_classifier, load_segmenter
from uvscope.models.registry import build_network, load_model, save_model, sha256_file

TINY = SegConfig(base_width=4, depth=2, patch_size=32, pixel_size_um=0.32)


def _save(tmp_path, cfg=TINY, kind="segment"):
    torch.manual_seed(0)
    net = build_network(kind, cfg)
    card = save_model(net, kind, cfg, tmp_path / f"{kind}.safetensors", {"seed": 0, "metrics": {}})
    return net, card, tmp_path / f"{kind}.safetensors"


def test_roundtrip_and_card_contents(tmp_path):
    net, card, path = _save(tmp_path)
    assert (
        card["sha256"] == sha256_file(path)
        and card["pixel_size_um"] == 0.32
        and card["input_size"] == 32
    )
    loaded, cfg, card2 = load_model(
        path, "segment", expected_input_size=32, expected_pixel_size_um=0.32
    )
    assert cfg == TINY
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    seg = load_segmenter(path, device="cpu")
    c, n = seg.predict(np.random.rand(1, 40, 36).astype(np.float32))
    assert c.shape == n.shape == (1, 40, 36) and 0 <= c.min() and c.max() <= 1


def test_hash_mismatch_is_refused(tmp_path):
    _, _, path = _save(tmp_path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(path, "segment")


def test_wrong_shape_is_refused(tmp_path):
    _, card, path = _save(tmp_path)
    card["architecture"]["base_width"] = 8  # the card now claims a wider network
    (tmp_path / "segment.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="shape"):
        load_model(path, "segment")


def test_pixel_size_kind_and_missing_card_are_refused(tmp_path):
    _, _, path = _save(tmp_path)
    with pytest.raises(ModelError, match="um/px"):
        load_model(path, "segment", expected_pixel_size_um=0.16)
    with pytest.raises(ModelError, match="expects 32-px"):
        load_model(path, "segment", expected_input_size=64)
    with pytest.raises(ModelError, match="not a 'classify'"):
        load_model(path, "classify")
    (tmp_path / "segment.json").unlink()
    with pytest.raises(ModelError, match="no model card"):
        load_model(path, "segment")
    with pytest.raises(ModelError, match="uvscope train"):
        load_model(tmp_path / "nothing.safetensors", "segment")


def test_classifier_rejects_wrong_crop_size(tmp_path):
    cfg = ClassifyConfig(width=4, crop_size=32)
    _, _, path = _save(tmp_path, cfg, "classify")
    clf = load_classifier(path, device="cpu")
    p_dead, p_class = clf.predict(np.random.rand(2, 3, 32, 32).astype(np.float32))
    assert p_dead.shape == (2,) and p_class.shape == (2, 5)
    np.testing.assert_allclose(p_class.sum(1), 1, atol=1e-5)
    with pytest.raises(ModelError, match="32, 32"):
        clf.predict(np.random.rand(2, 3, 64, 64).astype(np.float32))


def test_class_probabilities_do_not_depend_on_the_cells_orientation():
    clf = load_classifier("default", device="cpu")
    s = clf.crop_size
    yy, xx = np.mgrid[0:s, 0:s] - s / 2
    cell = (yy**2 + xx**2 < (0.3 * s) ** 2).astype(np.float32)
    nucleus = ((yy + 6) / 6.0) ** 2 + ((xx - 6) / 10.0) ** 2 < 1  # off centre: not symmetric
    gray = cell * (0.6 + 0.2 * np.random.default_rng(1).random((s, s))) * (1 - 0.4 * nucleus)
    x = np.stack([0.5 * nucleus, gray, 0.5 * cell])[None].astype(np.float32)
    turned = np.ascontiguousarray(np.rot90(x, 1, axes=(2, 3))[..., ::-1])
    d0, c0 = clf.predict_raw(x)
    _, c1 = clf.predict_raw(turned)
    np.testing.assert_allclose(c0, c1, atol=1e-5)  # averaged over the 8 orientations
    clf.class_tta = False
    d_plain, c_plain = clf.predict_raw(x)
    _, c_turned = clf.predict_raw(turned)
    np.testing.assert_allclose(d0, d_plain, atol=1e-6)  # dead/healthy: the crop as it is
    # one view alone does depend on it (compared on the log scale: a confident network's
    # probabilities saturate near 0 and 1)
    assert np.abs(np.log(c_plain + 1e-30) - np.log(c_turned + 1e-30)).max() > 1e-3


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cpu_and_cuda_agree(tmp_path):
    _, _, path = _save(tmp_path)
    x = np.random.default_rng(0).random((2, 64, 64)).astype(np.float32)
    c_cpu, n_cpu = load_segmenter(path, device="cpu").predict(x)
    c_gpu, n_gpu = load_segmenter(path, device="cuda").predict(x)  # bf16 autocast
    assert np.abs(c_cpu - c_gpu).max() < 0.05 and np.abs(n_cpu - n_gpu).max() < 0.05


def test_loading_leaves_torch_thread_count_as_it_was():
    n = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        load_classifier("default", device="cpu")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(n)
