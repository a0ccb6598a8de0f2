"""The one convention that maps image pixels to stage coordinates.

Column index grows with stage x and row index grows with stage y; the stage position of a
tile is the position of the image centre. Every room (simulator, mosaic, cell table) uses
these two functions so positions agree everywhere.
"""

from __future__ import annotations

import numpy as np


def pixel_to_stage_mm(
    row: float | np.ndarray,
    col: float | np.ndarray,
    center_mm: tuple[float, float],
    shape: tuple[int, int],
    pixel_size_um: float,
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Stage (x, y) in mm of pixel (row, col) of an image of ``shape`` centred at ``center_mm``."""
    h, w = shape
    x = center_mm[0] + (np.asarray(col) - (w - 1) / 2.0) * pixel_size_um * 1e-3
    y = center_mm[1] + (np.asarray(row) - (h - 1) / 2.0) * pixel_size_um * 1e-3
    return x, y


def stage_to_pixel(
    x_mm: float | np.ndarray,
    y_mm: float | np.ndarray,
    center_mm: tuple[float, float],
    shape: tuple[int, int],
    pixel_size_um: float,
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """(row, col) of stage point (x, y) in an image of ``shape`` centred at ``center_mm``."""
    h, w = shape
    col = (np.asarray(x_mm) - center_mm[0]) * 1e3 / pixel_size_um + (w - 1) / 2.0
    row = (np.asarray(y_mm) - center_mm[1]) * 1e3 / pixel_size_um + (h - 1) / 2.0
    return row, col
