"""window_max gives scipy's maximum_filter value for value, borders included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from uvscope.analysis.window_max import window_max


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
