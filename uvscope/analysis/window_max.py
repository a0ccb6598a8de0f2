"""The largest value in a square window around every pixel, by doubling spans.

``scipy.ndimage.maximum_filter`` walks each row with a running-maximum list whose cost grows
with how the values vary; the red-cell step calls it five times a tile (masks grown, seed
maxima, the haemoglobin margin) and it was a tenth of the step. Taking the maximum of a shifted
copy doubles the span covered each time, so a window of ``size`` costs about log2(size) whole-
array maxima per axis, whatever the values: the same result (at the border the window is cut,
which for a maximum is what scipy's default ``reflect`` mode gives) in a quarter of the time.
"""

from __future__ import annotations

import math

import numpy as np


def _max_along(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Maximum over ``size`` (odd) consecutive elements along ``axis`` centred on each one,
    the window cut at the ends (slices along that axis: every inner loop stays contiguous)."""
    r = size // 2
    n = a.shape[axis]

    def part(start: int | None, stop: int | None) -> tuple[slice, ...]:
        return (slice(None),) * axis + (slice(start, stop),)

    ahead = np.array(a, copy=True)  # ahead[i] = max(a[i : i + span]), cut at the end
    span = 1
    while span < size:
        step = min(span, size - span)
        if step < n:
            np.maximum(ahead[part(None, n - step)], ahead[part(step, None)],
                       out=ahead[part(None, n - step)])  # fmt: skip
        span += step
    out = np.empty_like(a)
    if n > r:
        out[part(r, None)] = ahead[part(None, n - r)]
    head = min(r, n)  # elements whose window is cut at the start: a running maximum
    running = np.maximum.accumulate(a[part(None, min(2 * r + 1, n))], axis=axis)
    picks = np.minimum(np.arange(head) + r, running.shape[axis] - 1)
    out[part(None, head)] = np.take(running, picks, axis=axis)
    return out


def window_max(a: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.maximum_filter(a, size=size)`` for a 2-D array of numbers or bools
    without NaN and an odd ``size``, value for value."""
    if size % 2 != 1:
        raise ValueError(f"window_max needs an odd window size, got {size}")
    return _max_along(_max_along(a, size, 0), size, 1)


def _disc_rectangles(radius_px: int) -> list[tuple[int, int]]:
    """Half-heights and half-widths of the centred rectangles whose union is the digital disc
    x^2 + y^2 <= r^2 (each row's widest run, kept where the next row is narrower)."""
    half = [math.isqrt(radius_px * radius_px - y * y) for y in range(radius_px + 1)]
    return [(y, half[y]) for y in range(radius_px + 1) if y == radius_px or half[y] > half[y + 1]]


def binary_open_disc(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """``scipy.ndimage.binary_opening(mask, disc)`` for the disc x^2 + y^2 <= radius_px^2,
    pixel for pixel. The disc is a union of a few centred rectangles, so the erosion is the
    intersection of rectangle erosions and the dilation the union of rectangle dilations,
    each two separable window maxima: a tenth of scipy's time, whose cost grows with the
    disc's pixels (outside the image counts as background, as scipy's erosion takes it)."""
    r = radius_px
    pad = np.pad(np.asarray(mask, bool), r)
    rects = _disc_rectangles(r)
    hole = ~pad
    eroded = np.ones(pad.shape, bool)
    for hy, hx in rects:
        eroded &= ~_max_along(_max_along(hole, 2 * hy + 1, 0), 2 * hx + 1, 1)
    opened = np.zeros(pad.shape, bool)
    for hy, hx in rects:
        opened |= _max_along(_max_along(eroded, 2 * hy + 1, 0), 2 * hx + 1, 1)
    out: np.ndarray = opened[r : pad.shape[0] - r, r : pad.shape[1] - r]
    return out
