"""A red cell's size is read at a share of its own peak OD: a pale and a dense cell of the same
size read the same diameter, where a fixed threshold on the blurred image reads the dense one
larger (the cause of the narrow diameter width on sickle and iron-deficiency smears)."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from uvscope.analysis.rbc import distance_to_edge, labelled_pixels, outline_diameter_um
from uvscope.analysis.window_max import window_max

PX_UM = 0.32
RADIUS_UM = 3.5
THRESHOLD_OD = 0.1  # the segmentation's fixed threshold on the smoothed OD


def _two_cells(pale_od: float, dense_od: float) -> tuple[np.ndarray, np.ndarray]:
    """OD and smoothed OD of two discs of the same radius, the left pale, the right dense,
    blurred as the optics and the smoothing blur them."""
    y, x = np.mgrid[0:60, 0:120] * PX_UM
    r = RADIUS_UM
    od = np.zeros(x.shape, np.float32)
    od[(x - 9.6) ** 2 + (y - 9.6) ** 2 <= r * r] = pale_od
    od[(x - 28.8) ** 2 + (y - 9.6) ** 2 <= r * r] = dense_od
    smooth = ndi.gaussian_filter(od, 0.5 / PX_UM)
    return od, smooth


def _left_right(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The mask's pixels labelled 1 (left cell) and 2 (right cell)."""
    cols = np.arange(mask.shape[1])[None, :]
    pieces = np.where(mask, np.where(cols < mask.shape[1] // 2, 1, 2), 0)
    return pieces.astype(np.int32), 2


def test_a_pale_and_a_dense_cell_of_one_size_read_one_diameter() -> None:
    _, smooth = _two_cells(0.25, 1.0)
    pieces, n = _left_right(smooth > THRESHOLD_OD)
    threshold_d = 2.0 * np.sqrt(np.bincount(pieces.ravel())[1:] * PX_UM**2 / math.pi)
    assert threshold_d[1] - threshold_d[0] > 0.3  # the fixed threshold: dense reads larger
    margin = np.where(pieces > 0, pieces, window_max(pieces, 7))
    dist = distance_to_edge(pieces > 0)
    d = outline_diameter_um(
        labelled_pixels(margin), n, smooth, dist, PX_UM, labelled_pixels(pieces)
    )[1:]
    assert abs(d[1] - d[0]) < 0.15
    assert np.all(np.abs(d - 2 * RADIUS_UM) < 0.35)


def test_a_pale_centre_counts_to_the_size() -> None:
    """A cell whose centre absorbs less than the share of its rim (a hypochromic cell's wide
    pallor) keeps its centre: the pixels deep inside count whatever their OD."""
    od, _ = _two_cells(0.8, 0.8)
    y, x = np.mgrid[0:60, 0:120] * PX_UM
    od[(x - 9.6) ** 2 + (y - 9.6) ** 2 <= 2.0**2] = 0.1  # a wide pale centre in the first
    smooth = ndi.gaussian_filter(od, 0.5 / PX_UM)
    pieces, n = _left_right(ndi.binary_fill_holes(smooth > THRESHOLD_OD))
    margin = np.where(pieces > 0, pieces, window_max(pieces, 7))
    dist = distance_to_edge(pieces > 0)
    d = outline_diameter_um(
        labelled_pixels(margin), n, smooth, dist, PX_UM, labelled_pixels(pieces)
    )[1:]
    # without the deep pixels the first would lose its centre (about 5.6 um); its narrow rim
    # peaks a little lower once blurred, so its outline sits a little further out
    assert -0.1 < d[0] - d[1] < 0.4
