import numpy as np
import pytest

from uvscope.models.preprocess import bin2x2, composite_crop, contrast_stretch


def test_contrast_stretch_saturates_and_scales():
    img = np.linspace(0, 1000, 10000, dtype=np.float32).reshape(100, 100)
    out = contrast_stretch(img, 1.0, 99.0)
    assert out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    assert (out == 0).mean() == pytest.approx(0.01, abs=0.002)
    assert (out == 1).mean() == pytest.approx(0.01, abs=0.002)


def test_contrast_stretch_flat_and_batch():
    assert np.all(contrast_stretch(np.full((8, 8), 3.0)) == 0)
    batch = np.stack([np.arange(64.0).reshape(8, 8), 10 * np.arange(64.0).reshape(8, 8)])
    out = contrast_stretch(batch)
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)
    with pytest.raises(ValueError):
        contrast_stretch(np.zeros((2, 2)), 50, 10)


def test_bin2x2_means_and_majority_masks():
    img = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(bin2x2(img), [[2.5, 4.5], [10.5, 12.5]])
    assert bin2x2(np.ones((5, 7))).shape == (2, 3)
    m = np.zeros((2, 4), bool)
    m[:, 0] = True
    m[0, 2] = True
    assert bin2x2(m).tolist() == [[True, False]]


def test_composite_crop_channels_and_border_padding():
    gray = np.full((20, 20), 0.8, np.float32)
    cell = np.zeros((20, 20), bool)
    cell[0:6, 0:6] = True
    nuc = np.zeros((20, 20), bool)
    nuc[1:3, 1:3] = True
    crop = composite_crop(gray, cell, nuc, (2, 2), 10)
    assert crop.shape == (3, 10, 10) and crop.dtype == np.float32
    # centre (2, 2) -> crop row/col 5 is image row/col 2; rows/cols 0..2 are padding
    assert np.all(crop[:, :3, :] == 0) and np.all(crop[:, :, :3] == 0)
    assert crop[0, 4, 4] == 0.5 and crop[0, 7, 7] == 0.0  # nucleus x 0.5
    assert crop[1, 7, 7] == pytest.approx(0.8) and crop[1, 9, 9] == 0.0  # gray x cell
    assert crop[2, 7, 7] == 0.5  # cell x 0.5
