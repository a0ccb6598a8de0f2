"""Staining lightness and white balance: the curve fitted on training pairs, the offsets
chosen on validation, and both carried by the model card into the analysis."""

import dataclasses

import numpy as np
import torch

from tests.models.conftest import disk_tile
from uvscope.models.arch import PRESETS, StainConfig
from uvscope.models.predict import load_stainer
from uvscope.models.registry import save_model
from uvscope.models.stain import (
    StainGenerator,
    apply_curve,
    fit_lightness_curve,
    lab_norm_to_rgb,
    postprocess,
    rgb_to_lab_norm,
)
from uvscope.models.train_stain import choose_offsets, stain_arrays


def test_generator_l_is_the_input_unless_a_curve_is_given():
    x = torch.rand(1, 1, 16, 16)
    assert torch.equal(StainGenerator(4, 2)(x)[:, :1], x)
    knots = (0.1, 0.5, 0.9)  # two straight pieces
    lab = StainGenerator(4, 2, l_curve=knots)(x)
    want = torch.where(x < 0.5, 0.1 + 0.8 * x, 0.5 + 0.8 * (x - 0.5))
    assert torch.allclose(lab[:, :1], want, atol=1e-6)
    assert torch.allclose(
        apply_curve(torch.tensor([0.0, 1.0, 1.5]), torch.tensor(knots)),
        torch.tensor([0.1, 0.9, 0.9]),
    )


def test_fitted_curve_follows_the_targets_lightness_and_never_decreases():
    rng = np.random.default_rng(0)
    gray = [rng.random((40, 40)).astype(np.float32) for _ in range(3)]
    true_l = [0.2 + 0.6 * g**2 for g in gray]
    rgb = [
        lab_norm_to_rgb(torch.from_numpy(t)[None, None], torch.zeros(1, 2, 40, 40))[0]
        .permute(1, 2, 0)
        .numpy()
        for t in true_l
    ]
    curve = fit_lightness_curve(gray, rgb, knots=11)
    levels = np.linspace(0, 1, 11)
    # end knots only see half a bin of pixels, so they sit a little inside the curve
    assert np.allclose(curve[1:-1], 0.2 + 0.6 * levels[1:-1] ** 2, atol=0.01)
    assert np.all(np.diff(curve) >= 0)


def test_offsets_chosen_on_validation_match_the_ground_truth_white_balance():
    tiles = [disk_tile(i) for i in range(2)]
    cfg = StainConfig(base_width=4, depth=2, disc_width=4, patch_size=48)
    gen = StainGenerator.from_config(cfg)
    for t in tiles:  # ground truth = this generator's colour after a known white balance
        raw = stain_arrays(gen, t.gray[None, None], torch.device("cpu"), post=False)
        t.rgb = postprocess(torch.from_numpy(raw), 0.01, 0.035)[0].permute(1, 2, 0).numpy()
    (r, v), tried = choose_offsets(gen, tiles, cfg)
    assert (r, v) == (0.01, 0.035) and len(tried) == 9 and "0.02/0.07" in tried


def _neutral(gen: StainGenerator) -> StainGenerator:
    """Zero weights: a = b = 0, so the RGB is gray and its lightness is exactly the L given."""
    for p in gen.parameters():
        p.data.zero_()
    return gen


def test_curve_and_offsets_travel_in_the_model_card(tmp_path):
    assert PRESETS["stain"]["small"].lightness == "fitted"
    cfg = StainConfig(
        base_width=4,
        depth=2,
        disc_width=4,
        patch_size=32,
        l_curve=(0.2, 0.7),
        rgb_offset=0.0,
        value_offset=0.0,
    )
    gen = _neutral(StainGenerator.from_config(cfg))
    save_model(gen, "stain", cfg, tmp_path / "stain.safetensors", {"seed": 0, "metrics": {}})
    st = load_stainer(tmp_path / "stain.safetensors", device="cpu")
    assert st.cfg == cfg
    x = np.full((1, 16, 16), 0.5, np.float32)
    l_out = rgb_to_lab_norm(torch.from_numpy(st.predict(x)).permute(0, 3, 1, 2))[:, 0]
    assert np.allclose(l_out.numpy(), 0.45, atol=0.01)  # 0.2 + 0.5 * (0.7 - 0.2)
    paper = dataclasses.replace(cfg, l_curve=())
    save_model(
        _neutral(StainGenerator.from_config(paper)),
        "stain",
        paper,
        tmp_path / "p.safetensors",
        {"seed": 0, "metrics": {}},
    )
    l_in = load_stainer(tmp_path / "p.safetensors", device="cpu").predict(x)
    l_in = rgb_to_lab_norm(torch.from_numpy(l_in).permute(0, 3, 1, 2))[:, 0]
    assert np.allclose(l_in.numpy(), 0.5, atol=0.01)


def test_unknown_lightness_scheme_is_refused_with_the_choices():
    import pytest

    from uvscope.errors import ModelError

    with pytest.raises(ModelError, match="'input'.*'fitted'"):
        StainConfig(lightness="guess")
