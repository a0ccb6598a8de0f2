from __future__ import annotations

import numpy as np
import pytest

from uvscope.analysis.inference import hann_window, patch_starts, predict_blended, resample


def test_patch_starts_cover_the_image_with_the_overlap() -> None:
    starts = patch_starts(300, 64, 16)
    assert starts[0] == 0 and starts[-1] == 300 - 64
    assert all(b - a <= 64 - 16 for a, b in zip(starts, starts[1:], strict=False))
    assert patch_starts(50, 64, 16) == [0]


def test_hann_window_is_positive_and_symmetric() -> None:
    w = hann_window(64)
    assert (w > 0).all()
    np.testing.assert_allclose(w, w[::-1], atol=1e-7)


@pytest.mark.parametrize("patch", [64, 48, None])
def test_constant_input_gives_constant_output(patch: int | None) -> None:
    img = np.full((150, 203), 0.37, np.float32)
    (out,) = predict_blended([img], lambda b: b * 2.0, patch, 16, 5)[0]
    np.testing.assert_allclose(out, 0.74, rtol=1e-6)


def test_no_seams_with_a_position_dependent_model() -> None:
    """A model that adds a bias near patch borders must not leave lines where patches meet."""

    def edgy(b: np.ndarray) -> np.ndarray:
        p = b.shape[-1]
        r = np.minimum(np.arange(p), np.arange(p)[::-1])
        bias = (r[:, None] < 4) | (r[None, :] < 4)
        return b + 0.2 * bias[None]

    y, x = np.mgrid[0:160, 0:220]
    img = (0.5 + 0.3 * np.sin(x / 17.0) * np.cos(y / 23.0)).astype(np.float32)
    (out,) = predict_blended([img], edgy, 64, 24, 4)[0]
    err = out - img
    # the blended bias is smooth: no jump between neighbouring pixels inside the image
    assert np.abs(np.diff(err[8:-8, 8:-8], axis=1)).max() < 0.02
    assert np.abs(np.diff(err[8:-8, 8:-8], axis=0)).max() < 0.02


def test_results_do_not_depend_on_batching_and_outputs_keep_channels() -> None:
    rng = np.random.default_rng(0)
    imgs = [rng.random((100, 130), dtype=np.float32), rng.random((100, 130), dtype=np.float32)]

    def fn(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return b**2, np.stack([b, 1 - b, b * 0.5], axis=-1)

    a = predict_blended(imgs, fn, 48, 16, 1)
    b = predict_blended(imgs, fn, 48, 16, 7)
    for ra, rb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ra[0], rb[0])
        np.testing.assert_array_equal(ra[1], rb[1])
    assert a[0][1].shape == (100, 130, 3)


def test_resample_round_trip_keeps_shape() -> None:
    img = np.random.default_rng(1).random((192, 256)).astype(np.float32)
    half = resample(img, (96, 128))
    assert half.shape == (96, 128) and half.dtype == np.float32
    assert resample(half, img.shape).shape == img.shape


def test_network_inputs_are_binned_then_stretched_as_the_training_tiles_were() -> None:
    from uvscope.analysis.inference import to_model_pixels
    from uvscope.analysis.pipeline import TilePipeline, tile_percentiles
    from uvscope.analysis.settings import AnalysisSettings
    from uvscope.models.preprocess import bin2x2, contrast_stretch

    rng = np.random.default_rng(0)
    g = (0.8 + 0.1 * rng.standard_normal((64, 96))).astype(np.float32)
    assert np.array_equal(to_model_pixels(g, 0.16, 0.32), bin2x2(g))
    assert np.allclose(to_model_pixels(g, 0.16, 0.64), bin2x2(bin2x2(g)))
    assert np.array_equal(to_model_pixels(g, 0.32, 0.32), g)
    odd = to_model_pixels(g[:63, :95], 0.16, 0.32)  # the last row/column repeated, not dropped
    assert odd.shape == (32, 48) and np.isclose(odd[-1, -1], g[62, 94])
    assert to_model_pixels(g, 0.16, 0.24).shape == (43, 64)  # other ratios: resized
    pipe = TilePipeline(models=None, settings=AnalysisSettings())  # type: ignore[arg-type]
    inf = pipe.settings.inference
    got = pipe._to_model([g], 0.16, 0.32)[0]
    assert np.array_equal(got, contrast_stretch(bin2x2(g), *tile_percentiles(g.shape, inf)))
