"""The CPU inference engines against torch eager: same numbers, clean fallback, cached export."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from uvscope.models import runtime
from uvscope.models.arch import SegConfig, StainConfig
from uvscope.models.predict import load_segmenter, load_stainer
from uvscope.models.registry import build_network, save_model

#: stated tolerance: probabilities and RGB 0..1 from an engine vs torch eager (float32 both;
#: measured ~1e-5, the rest is headroom for other CPUs' kernels)
TOL = 1e-4
ENGINES = [e for e in ("openvino", "onnxruntime") if runtime.available(e)]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UVSCOPE_CACHE_DIR", str(tmp_path / "cache"))


def _image(shape=(2, 90, 140), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _outs(model, x):
    out = model.predict(x)
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("loader", [load_segmenter, load_stainer])
def test_shipped_networks_agree_with_torch(engine, loader):
    model = loader("default", device="cpu")
    patches = _image()  # not a multiple of 16: the padding path too
    whole = _image((1, 520, 696), seed=1)  # a whole binned tile, another shape
    ref = [_outs(model, x) for x in (patches, whole)]
    assert model.use_engine(engine) == engine and model.engine == engine
    for x, r in zip((patches, whole), ref, strict=True):
        for a, b in zip(r, _outs(model, x), strict=True):
            assert a.shape == b.shape and b.dtype == np.float32
            assert np.abs(a - b).max() < TOL
    assert model.use_engine("torch") == "torch"
    assert all(np.array_equal(a, b) for a, b in zip(ref[0], _outs(model, patches), strict=True))


@pytest.mark.parametrize("engine", ENGINES)
def test_shipped_classifier_agrees_with_torch(engine):
    from uvscope.models.predict import load_classifier

    clf = load_classifier("default", device="cpu")
    s = clf.crop_size
    crops = _image((5, 3, s, s), seed=2)
    ref = clf.predict_raw(crops)
    assert clf.use_engine(engine) == engine
    got = clf.predict_raw(crops)
    for a, b in zip(ref, got, strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() < TOL


def test_missing_runtime_falls_back_to_torch_with_a_message(monkeypatch):
    monkeypatch.setattr(runtime, "available", lambda e: e == "torch")
    seg = load_segmenter("random", device="cpu")
    with pytest.warns(runtime.EngineFallbackWarning, match="not installed"):
        assert seg.use_engine("openvino") == "torch"
    assert seg.engine == "torch"
    c, n = seg.predict(_image((1, 64, 64)))
    assert c.shape == (1, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto picks what is there: no warning
        assert seg.use_engine("auto") == "torch"


def test_auto_prefers_an_installed_cpu_runtime_and_torch_on_cuda():
    cpu = torch.device("cpu")
    assert runtime.resolve_engine("auto", cpu) == (ENGINES[0] if ENGINES else "torch")
    assert runtime.resolve_engine("auto", torch.device("cuda")) == "torch"
    assert runtime.resolve_engine("torch", cpu) == "torch"
    with pytest.raises(runtime.ModelError, match="unknown inference engine"):
        runtime.resolve_engine("tensorrt", cpu)


@pytest.mark.skipif(not ENGINES, reason="no ONNX runtime installed")
def test_export_is_cached_per_weights_and_changes_with_them(tmp_path, monkeypatch):
    cfg = SegConfig(base_width=4, depth=2, patch_size=32, pixel_size_um=0.32)
    torch.manual_seed(0)
    net = build_network("segment", cfg)
    path = tmp_path / "seg.safetensors"
    save_model(net, "segment", cfg, path, {"seed": 0, "metrics": {}})
    calls = []
    real = runtime.export_onnx
    monkeypatch.setattr(runtime, "export_onnx", lambda *a: calls.append(a) or real(*a))
    for _ in range(2):
        load_segmenter(path, device="cpu").use_engine(ENGINES[0])
    assert len(calls) == 1  # the second load reused the cached file
    with torch.no_grad():
        net.unet.head.bias += 0.5  # other weights: another export
    save_model(net, "segment", cfg, path, {"seed": 0, "metrics": {}})
    seg = load_segmenter(path, device="cpu")
    seg.use_engine(ENGINES[0])
    assert len(calls) == 2
    x = _image((1, 32, 32))
    got = seg.predict(x)
    seg.use_engine("torch")
    assert np.abs(got[0] - seg.predict(x)[0]).max() < TOL


@pytest.mark.skipif(not ENGINES, reason="no ONNX runtime installed")
def test_a_stainer_lightness_curve_is_part_of_the_exported_graph(tmp_path):
    cfg = StainConfig(base_width=4, depth=2, patch_size=32, lightness="fitted",
                      l_curve=(0.0, 0.9, 1.0))  # fmt: skip
    torch.manual_seed(0)
    save_model(build_network("stain", cfg), "stain", cfg, tmp_path / "s.safetensors",
               {"seed": 0, "metrics": {}})  # fmt: skip
    st = load_stainer(tmp_path / "s.safetensors", device="cpu")
    x = _image((1, 48, 40))
    ref = st.predict(x)
    st.use_engine(ENGINES[0])
    assert np.abs(st.predict(x) - ref).max() < TOL
