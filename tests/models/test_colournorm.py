"""Colour normalisation of stained crops: two labs' stains of one cell come out alike."""

from __future__ import annotations

import numpy as np
import pytest

from uvscope.models.colournorm import METHODS, normalise


def cell(nucleus_od: tuple, cyto_od: tuple, background: tuple, seed: int = 0) -> np.ndarray:
    """A (3,64,64) crop: a nucleus and cytoplasm of two stains (Beer-Lambert on a tinted
    background), with a little texture and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 32, xx - 32)
    nuc = (r < 10).astype(float) * (0.8 + 0.2 * rng.random((64, 64)))
    cyto = (r < 22).astype(float) * (0.7 + 0.3 * rng.random((64, 64)))
    od = np.outer(nucleus_od, nuc).reshape(3, 64, 64) + np.outer(cyto_od, cyto).reshape(3, 64, 64)
    rgb = np.asarray(background)[:, None, None] * np.exp(-od)
    return np.clip(rgb + rng.normal(0, 0.005, rgb.shape), 0, 1).astype(np.float32)


#: a Giemsa-like blue nucleus on white, and a brown nucleus on a yellow background
BLUE = cell((1.2, 0.9, 0.3), (0.1, 0.35, 0.15), (0.95, 0.95, 0.97))
BROWN = cell((0.6, 1.0, 1.3), (0.1, 0.3, 0.6), (0.98, 0.93, 0.6), seed=1)


@pytest.mark.parametrize("method", METHODS)
def test_shape_and_range_kept(method):
    x = np.stack([BLUE, BROWN])
    y = normalise(x, method)
    assert y.shape == x.shape and y.dtype == np.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_gray_has_equal_channels_and_a_dark_nucleus():
    y = normalise(BLUE[None], "gray")[0]
    assert np.array_equal(y[0], y[1]) and np.array_equal(y[1], y[2])
    assert y[0, 32, 32] < y[0, 32, 50] < y[0, 2, 2]  # nucleus < cytoplasm < glass


@pytest.mark.parametrize("method", ["gray", "stain"])
def test_two_stains_of_one_cell_come_closer(method):
    before = float(np.abs(BLUE - BROWN).mean())
    a, b = normalise(np.stack([BLUE, BROWN]), method)
    after = float(np.abs(a - b).mean())
    assert after < 0.5 * before, (before, after)
    for y in (a, b):  # the nucleus stays the darkest part in both
        assert y[:, 30:34, 30:34].mean() < y[:, 32, 47:51].mean() < y[:, :4, :4].mean()


def test_percentile_is_the_crop_folders_normalisation():
    from uvscope.models.userdata import normalise_rgb

    x = np.stack([BLUE, BROWN])
    assert np.array_equal(normalise(x, "percentile"), normalise_rgb(x))


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="'lab'.*percentile"):
        normalise(BLUE[None], "lab")


def test_old_cards_mean_the_percentile_stretch():
    from uvscope.models.colournorm import card_method
    from uvscope.models.userdata import RGB_NORMALISATION

    assert card_method({"rgb_normalisation": RGB_NORMALISATION}) == "percentile"
    assert card_method({"rgb_normalisation": "stain"}) == "stain"
    assert card_method({}) is None


def test_train_records_the_choice_and_evaluate_applies_it(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    import uvscope.models.pipeline as pipeline
    from tests.models.test_userdata import _folder
    from uvscope.cli import main

    used: list[str] = []
    real = pipeline.colour_normalise
    monkeypatch.setattr(pipeline, "colour_normalise", lambda x, m: used.append(m) or real(x, m))
    root = _folder(tmp_path / "crops", {"neutrophil": 5, "lymphocyte": 5})
    out = tmp_path / "w"
    args = ["--data", str(root), "--device", "cpu"]
    r = CliRunner().invoke(
        main, ["train", "classify", *args, "--out", str(out), "--epochs", "1",
               "--colour-normalisation", "gray"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads((out / "classify.json").read_text())["rgb_normalisation"] == "gray"
    assert used == ["gray"]
    r = CliRunner().invoke(main, ["evaluate", "classify", *args, "--weights", str(out)])
    assert r.exit_code == 0, r.output
    assert used == ["gray", "gray"]
    # composite crops have no colours to normalise: a clear refusal
    r = CliRunner().invoke(
        main, ["train", "classify", *args, "--out", str(tmp_path / "c"), "--epochs", "1",
               "--classifier-input", "composite", "--colour-normalisation", "stain"],
    )  # fmt: skip
    assert r.exit_code != 0 and "--colour-normalisation applies to colour crops" in r.output
