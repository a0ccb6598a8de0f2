"""The vectorised post-processing gives the same pixels as the library calls it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import disk
from skimage.transform import resize

from uvscope.analysis.inference import resample, upsample2x
from uvscope.analysis.postprocess import binary_open


@pytest.mark.parametrize("shape", [(5, 7), (1, 6), (40, 33, 3), (2, 2)])
def test_upsample2x_is_skimage_linear_resize(shape):
    img = np.random.default_rng(0).random(shape).astype(np.float32)
    out = (2 * shape[0], 2 * shape[1]) + shape[2:]
    ref = resize(img, out, order=1, mode="reflect", anti_aliasing=False, preserve_range=True)
    assert np.abs(upsample2x(img) - ref).max() < 1e-6
    assert np.abs(resample(img, out[:2]) - ref).max() < 1e-6


def test_binary_open_equals_scipy_on_random_masks():
    rng = np.random.default_rng(1)
    for _ in range(60):
        shape = tuple(int(v) for v in rng.integers(8, 90, 2))
        smooth = ndi.gaussian_filter(rng.random(shape), rng.uniform(0.8, 4))
        mask = smooth > np.quantile(smooth, rng.uniform(0.3, 0.9))
        r = int(rng.integers(0, 6))
        ref = ndi.binary_opening(mask, disk(r)) if r else mask
        assert np.array_equal(binary_open(mask, r), ref)


def test_binary_open_at_the_image_border_and_between_touching_parts():
    mask = np.zeros((30, 40), bool)
    mask[:12, :12] = True  # in the corner: outside the image is background
    mask[12:24, 11:23] = True  # touches the first part diagonally and along an edge
    mask[5, 30:40] = True  # a line thinner than the disk vanishes
    assert np.array_equal(binary_open(mask, 3), ndi.binary_opening(mask, disk(3)))
