"""Preprocessing shared with training: taken from ``uvscope.models.preprocess``.

The models room owns these functions (training and inference must use the very same code).
Until that package is present (it is merged separately) the same maths is defined here, so the
analysis runs on its own; the models room's versions replace these as soon as they import.
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - exercised once the models room is merged
    from uvscope.models.preprocess import bin2x2, composite_crop, contrast_stretch
except ImportError:  # pragma: no cover - the fallback path is exercised before the merge

    def contrast_stretch(
        tile: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5
    ) -> np.ndarray:
        """Saturate the darkest and brightest percent and rescale to float32 0..1."""
        arr = np.asarray(tile, dtype=np.float32)
        lo, hi = np.percentile(arr, [low_pct, high_pct])
        if hi - lo <= 1e-12:
            return np.zeros_like(arr)
        return np.clip((arr - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)

    def bin2x2(img: np.ndarray) -> np.ndarray:
        """Average 2x2 pixel blocks (an odd trailing row/column is dropped)."""
        a = np.asarray(img)
        h, w = a.shape[-2] // 2 * 2, a.shape[-1] // 2 * 2
        b = a[..., :h, :w].reshape(*a.shape[:-2], h // 2, 2, w // 2, 2)
        if a.dtype == bool:
            return b.sum(axis=(-3, -1)) >= 2
        return b.astype(np.float32).mean(axis=(-3, -1)).astype(np.float32)

    def composite_crop(
        gray: np.ndarray,
        cell_mask: np.ndarray,
        nucleus_mask: np.ndarray,
        center_rc: tuple[float, float],
        size: int,
    ) -> np.ndarray:
        """R nucleus*0.5, G gray*cell, B cell*0.5 around ``center_rc``, zero-padded."""
        g = np.asarray(gray, dtype=np.float32)
        cm = np.asarray(cell_mask).astype(np.float32)
        nm = np.asarray(nucleus_mask).astype(np.float32)
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


__all__ = ["bin2x2", "composite_crop", "contrast_stretch"]
