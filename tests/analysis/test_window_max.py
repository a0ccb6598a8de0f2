"""window_max gives scipy's maximum_filter value for value, borders included; binary_open_disc
scipy's binary_opening by a disc pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from uvscope.analysis.window_max import binary_open_disc, window_max


@pytest.mark.parametrize("shape", [(52, 69), (3, 5), (1, 1), (7, 20), (13, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, bool])
@pytest.mark.parametrize("size", [1, 3, 5, 7, 13])
def test_window_max_is_scipys_maximum_filter(
    shape: tuple[int, int], dtype: type, size: int
) -> None:
    rng = np.random.default_rng(size * 31 + shape[0])
    x = rng.random(shape) * 50
    a = x > 40 if dtype is bool else x.astype(dtype)
    want = ndi.maximum_filter(a, size=size)
    got = window_max(a, size)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_window_max_on_plateaus_and_the_border() -> None:
    """Equal values (a distance map's plateaus) and a maximum on the border row."""
    a = np.zeros((9, 11), np.float32)
    a[0, 4] = 3.0
    a[4:6, 6:8] = 2.0
    np.testing.assert_array_equal(window_max(a, 5), ndi.maximum_filter(a, size=5))
    assert window_max(a, 5)[2, 2] == 3.0  # two rows and columns from the border maximum


def test_window_max_refuses_an_even_window() -> None:
    with pytest.raises(ValueError, match="odd"):
        window_max(np.zeros((4, 4)), 4)


def _disc(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    disc: np.ndarray = x * x + y * y <= radius * radius
    return disc


@pytest.mark.parametrize("radius", [1, 2, 3, 4, 6, 9])
def test_binary_open_disc_is_scipys_opening(radius: int) -> None:
    """Random blobs and specks (cut by the border too) give scipy's opening pixel for pixel:
    the disc as a union of rectangles is exact for every radius, not only those in use."""
    rng = np.random.default_rng(radius)
    for shape in [(61, 87), (9, 40), (3, 3)]:
        seeds = rng.random(shape) > 0.97
        blobs = ndi.binary_dilation(seeds, iterations=radius + 2) & (rng.random(shape) > 0.1)
        want = ndi.binary_opening(blobs, _disc(radius))
        np.testing.assert_array_equal(binary_open_disc(blobs, radius), want)
    assert not binary_open_disc(np.ones((2 * radius, 40), bool), radius).any()  # too thin
