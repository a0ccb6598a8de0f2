"""Stain and colour normalisation of stained-smear colour crops, for classifiers that must
read another lab's cells (another stain, camera and white balance).

Each function maps (N,3,S,S) float crops 0..1 to the same shape and range, crop by crop (no
statistics of a whole set: a lab's single crop is normalised the same way at any time):

- ``percentile``: each channel stretched between its 1st and 99th percentile (white balance
  and stain strength; keeps the stain's hue);
- ``gray``: luma (BT.601) stretched the same way, in all three channels (drops hue: a blue
  Giemsa nucleus and a brown one both become dark);
- ``stain``: optical density separated into the crop's two principal stain directions
  (Macenko et al. 2009: the plane of the two largest singular vectors of the OD of stained
  pixels, the stains at the extreme angles in it), the nuclear stain being the one that is
  strongest in the darkest pixels; each stain's concentration scaled to its 99th percentile
  and the crop re-composed with one fixed reference pair of stain colours, so every source's
  nuclei and cytoplasm come out in the same two colours.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: reference stain colours (optical density directions, R, G, B) the ``stain`` method
#: re-composes with: a purple nuclear stain and a pink cytoplasm/granule stain
REFERENCE_STAINS = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]])
#: optical density of the reference stains at a concentration of 1 (the 99th percentile)
REFERENCE_MAX_OD = np.array([1.5, 0.8])
METHODS = ("percentile", "gray", "stain")
#: what ``uvscope train classify`` uses for colour crops unless told otherwise
DEFAULT = "percentile"
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _stretch(x: np.ndarray, lo_pct: float = 1.0, hi_pct: float = 99.0) -> np.ndarray:
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    lo = np.percentile(flat, lo_pct, axis=-1)[..., None, None]
    hi = np.percentile(flat, hi_pct, axis=-1)[..., None, None]
    out: np.ndarray = np.clip((x - lo) / np.maximum(hi - lo, 1e-3), 0.0, 1.0)
    return out.astype(np.float32)


def gray_crops(x: np.ndarray) -> np.ndarray:
    """Luma of each crop, stretched between its 1st and 99th percentile, in three channels."""
    y = np.einsum("c,nchw->nhw", _LUMA, x.astype(np.float32))[:, None]
    return np.repeat(_stretch(y), 3, axis=1)


def _stain_one(rgb: np.ndarray, beta: float = 0.15, alpha: float = 1.0) -> np.ndarray:
    """One (3,S,S) crop re-composed with the reference stains (see the module text)."""
    c, h, w = rgb.shape
    px = rgb.reshape(3, -1).T.astype(np.float64)
    background = np.maximum(np.percentile(px, 99, axis=0), 1e-3)  # glass / plasma white
    od = -np.log(np.clip(px / background, 1e-3, 1.0))
    stained = od[(od > beta).all(axis=1)]
    if len(stained) < 10:  # nothing stained: the white-balanced crop as it is
        return np.clip(px / background, 0, 1).T.reshape(c, h, w).astype(np.float32)
    _, _, vt = np.linalg.svd(stained - 0.0, full_matrices=False)
    plane = vt[:2]  # (2,3)
    plane = plane * np.sign(plane.sum(axis=1, keepdims=True) + 1e-12)  # positive OD
    proj = stained @ plane.T
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, alpha), np.percentile(phi, 100 - alpha)
    stains = np.stack([np.cos(a) * plane[0] + np.sin(a) * plane[1] for a in (lo, hi)])
    stains = np.abs(stains) / np.maximum(np.linalg.norm(stains, axis=1, keepdims=True), 1e-9)
    conc, *_ = np.linalg.lstsq(stains.T, od.T, rcond=None)  # (2, P)
    conc = np.maximum(conc, 0)
    # the nuclear stain is the one that dominates the darkest (highest total OD) pixels
    dark = od.sum(axis=1) >= np.percentile(od.sum(axis=1), 95)
    if conc[1, dark].mean() > conc[0, dark].mean():
        conc = conc[::-1]
    scale = np.maximum(np.percentile(conc, 99, axis=1), 1e-6)
    conc = conc / scale[:, None] * REFERENCE_MAX_OD[:, None]
    out: np.ndarray = np.clip(np.exp(-(REFERENCE_STAINS.T @ conc)), 0, 1)  # white = 1
    return out.reshape(c, h, w).astype(np.float32)


def stain_crops(x: np.ndarray) -> np.ndarray:
    """Each crop's stains separated and re-composed with REFERENCE_STAINS (Macenko-style)."""
    return np.stack([_stain_one(xi) for xi in x]).astype(np.float32)


def normalise(x: np.ndarray, method: str) -> np.ndarray:
    """(N,3,S,S) crops 0..1 normalised by ``method`` (one of METHODS)."""
    if method == "percentile":
        return _stretch(x)
    if method == "gray":
        return gray_crops(x)
    if method == "stain":
        return stain_crops(x)
    raise ValueError(f"colour normalisation {method!r} is not one of {METHODS}")


def card_method(card: dict[str, Any]) -> str | None:
    """The normalisation a classifier's card says its colour crops had (None: none); cards
    written before the choice existed hold a description of the percentile stretch."""
    value = card.get("rgb_normalisation")
    if not value:
        return None
    return str(value) if value in METHODS else "percentile"
