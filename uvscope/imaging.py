"""Array helpers with one definition for every room: block-mean downsampling and normalisation.

Numpy only, no I/O, so the simulator, acquisition, analysis, io and the GUI can all use them.
"""

from __future__ import annotations

import numpy as np


def block_mean(img: np.ndarray, f: int) -> np.ndarray:
    """Downsample (Y, X[, C]) by an integer factor with an f x f block mean, as float32.

    The ragged edge (rows and columns beyond a multiple of ``f``) is dropped.
    """
    if f == 1:
        return np.asarray(img, np.float32)
    h, w = img.shape[0] // f * f, img.shape[1] // f * f
    a = np.asarray(img[:h, :w], np.float32)
    out: np.ndarray = a.reshape(h // f, f, w // f, f, *a.shape[2:]).mean(
        axis=(1, 3), dtype=np.float32
    )
    return out


def block_pick(img: np.ndarray, f: int) -> np.ndarray:
    """Downsample a label image by taking the centre pixel of each f x f block (labels stay
    labels); same output shape as ``block_mean``."""
    if f == 1:
        return img
    h, w = img.shape[0] // f, img.shape[1] // f
    return img[f // 2 :: f, f // 2 :: f][:h, :w]


def normalise_frame(raw: np.ndarray, background: np.ndarray, dark: np.ndarray | None) -> np.ndarray:
    """(raw - dark) / max(background - dark, 1) as float32: 1.0 is fully transmissive.

    The scan normalises every tile with this; the scan folder derives the same array on read
    from the stored raw, background and dark frames, bit for bit.
    """
    return normalise_with(raw, normalise_denominator(background, dark), dark)


def normalise_denominator(background: np.ndarray, dark: np.ndarray | None) -> np.ndarray:
    """max(background - dark, 1) as float32 (never a division by zero on a dead pixel)."""
    d = background - dark if dark is not None else background
    denom: np.ndarray = np.maximum(d, 1.0).astype(np.float32)
    return denom


def normalise_with(raw: np.ndarray, denom: np.ndarray, dark: np.ndarray | None) -> np.ndarray:
    """``normalise_frame`` with the denominator computed once per background."""
    num = raw.astype(np.float32)
    if dark is not None:
        num -= dark
    out: np.ndarray = num / denom
    return out
