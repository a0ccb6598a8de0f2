"""Image preprocessing shared by training and inference (and imported by the analysis room).

The paper normalises every tile by its background and then saturates the darkest and brightest
pixels ("histogram operation") so that donor-to-donor gray-level differences do not reach the
networks. The same function must run at training and at inference time, so it lives here once.
"""

from __future__ import annotations

import numpy as np


def contrast_stretch(tile: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Saturate the bottom ``low_pct`` and top ``high_pct`` percent and rescale to 0..1.

    Works on one image (H, W) or, percentile-wise per image, on a batch (N, H, W).
    Returns float32. A flat image maps to zeros rather than dividing by zero.
    """
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    arr = np.asarray(tile, dtype=np.float32)
    if arr.ndim == 3:
        return np.stack([contrast_stretch(a, low_pct, high_pct) for a in arr])
    if arr.ndim != 2:
        raise ValueError(f"contrast_stretch expects (H, W) or (N, H, W), got shape {arr.shape}")
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return np.zeros_like(arr)
    lo, hi = np.percentile(finite, [low_pct, high_pct])
    if hi - lo <= 1e-12:
        return np.zeros_like(arr)
    out = (np.nan_to_num(arr, nan=lo) - lo) / (hi - lo)
    stretched: np.ndarray = np.clip(out, 0.0, 1.0).astype(np.float32)
    return stretched


def bin2x2(img: np.ndarray) -> np.ndarray:
    """Average 2x2 pixel blocks (the last two axes); an odd trailing row/column is dropped.

    Masks (bool) come back as the majority vote (>= 2 of 4) so they stay binary.
    """
    arr = np.asarray(img)
    h, w = arr.shape[-2] // 2 * 2, arr.shape[-1] // 2 * 2
    a = arr[..., :h, :w]
    blocks = a.reshape(*a.shape[:-2], h // 2, 2, w // 2, 2)
    if arr.dtype == bool:
        majority: np.ndarray = blocks.sum(axis=(-3, -1)) >= 2
        return majority
    mean: np.ndarray = blocks.astype(np.float32).mean(axis=(-3, -1)).astype(np.float32)
    return mean


def composite_crop(
    gray: np.ndarray,
    cell_mask: np.ndarray,
    nucleus_mask: np.ndarray,
    center_rc: tuple[float, float],
    size: int,
) -> np.ndarray:
    """The paper's 3-channel classifier input around one cell, zero-padded at image borders.

    R = nucleus mask x 0.5, G = gray x cell mask, B = cell mask x 0.5 (paper 000, 4.6.1).
    ``gray`` should already be contrast-stretched to 0..1; masks are the cell's own masks
    (pass ``labels == id`` so neighbouring cells are blanked). Returns float32 (3, size, size).
    """
    if size <= 0:
        raise ValueError(f"crop size must be positive, got {size}")
    g = np.asarray(gray, dtype=np.float32)
    cm = np.asarray(cell_mask).astype(np.float32)
    nm = np.asarray(nucleus_mask).astype(np.float32)
    if not (g.shape == cm.shape == nm.shape) or g.ndim != 2:
        raise ValueError(
            f"gray, cell_mask and nucleus_mask must be equal 2-D shapes, got "
            f"{g.shape}, {cm.shape}, {nm.shape}"
        )
    stack = np.stack([nm * 0.5, g * cm, cm * 0.5])
    r0 = int(round(center_rc[0])) - size // 2
    c0 = int(round(center_rc[1])) - size // 2
    out = np.zeros((3, size, size), dtype=np.float32)
    h, w = g.shape
    rs, re = max(r0, 0), min(r0 + size, h)
    cs, ce = max(c0, 0), min(c0 + size, w)
    if rs < re and cs < ce:
        out[:, rs - r0 : re - r0, cs - c0 : ce - c0] = stack[:, rs:re, cs:ce]
    return out
