"""Stitched mosaics: gray and stained tiles linearly blended, counted cells as labels and outlines.

Tiles are placed at their registered pixel origins (rounded; sub-pixel detail is below what a
mosaic viewer shows). Where tiles overlap, each contributes with a weight that rises linearly
from its edges over ``blend_width_px``, so seams fade out. The label mosaic holds exactly the
cells of the cell table, each pasted whole from the tile that counted it, numbered
``tile * 10000 + label``; the outline overlay colours their borders by class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from skimage.segmentation import find_boundaries

from uvscope.analysis.inference import resample
from uvscope.analysis.settings import CLASSES, MosaicSettings

LABEL_STRIDE = 10_000  # global label = tile * LABEL_STRIDE + label within the tile
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "neutrophil": (230, 97, 1),
    "eosinophil": (214, 39, 40),
    "basophil": (148, 103, 189),
    "lymphocyte": (31, 119, 180),
    "monocyte": (44, 160, 44),
    "dead": (127, 127, 127),
}
assert set(CLASSES) <= set(CLASS_COLOURS)


@dataclass
class Mosaics:
    gray: np.ndarray  # float32 (H, W), normalised transmission
    stained: np.ndarray | None  # uint8 (H, W, 3)
    labels: np.ndarray  # uint32 (H, W)
    outlines: np.ndarray  # uint8 (H, W, 3), class colours on black
    pixel_size_um: float  # of the mosaic (tile pixel size x downsampling)
    origin_px: tuple[int, int]  # global pixel (row, col) of mosaic pixel (0, 0), tile pixels
    scale: int  # downsampling factor applied to the tiles


def ramp(n: int, width: int) -> np.ndarray:
    """Linear blending weight along one axis: 1/width at the edges, 1 from ``width`` inwards."""
    i = np.arange(n, dtype=np.float32)
    return np.minimum(np.minimum(i + 1, n - i), float(width)) / float(width)


def build_mosaics(
    origins: Mapping[int, np.ndarray],
    shape: tuple[int, int],
    pixel_size_um: float,
    load_gray: Callable[[int], np.ndarray],
    load_stained: Callable[[int], np.ndarray | None],
    load_labels: Callable[[int], np.ndarray | None],
    counted: Mapping[int, Mapping[int, str]],
    settings: MosaicSettings | None = None,
) -> Mosaics:
    """Blend every tile into gray, stained, label and outline mosaics."""
    s = settings or MosaicSettings()
    keys = sorted(origins)
    if not keys:
        raise ValueError("no tiles to stitch")
    o = np.array([np.round(origins[k]) for k in keys]).astype(np.int64)
    lo = o.min(axis=0)
    full = (o.max(axis=0) - lo + np.array(shape)).astype(np.int64)
    scale = 1
    while (full[0] // scale) * (full[1] // scale) > s.max_pixels:
        scale += 1
    th, tw = -(-shape[0] // scale), -(-shape[1] // scale)
    size = (int(-(-full[0] // scale)) + 1, int(-(-full[1] // scale)) + 1)
    gray = np.zeros(size, np.float32)
    wsum = np.zeros(size, np.float32)
    stained: np.ndarray | None = None
    labels = np.zeros(size, np.uint32)
    win = np.outer(
        ramp(th, max(s.blend_width_px // scale, 1)), ramp(tw, max(s.blend_width_px // scale, 1))
    )
    for k, ok in zip(keys, o, strict=True):
        r0, c0 = ((ok - lo) // scale).tolist()
        sl = (slice(r0, r0 + th), slice(c0, c0 + tw))
        g = load_gray(k)
        if scale > 1:
            g = resample(np.asarray(g, np.float32), (th, tw))
        gray[sl] += np.asarray(g, np.float32) * win
        wsum[sl] += win
        st = load_stained(k)
        if st is not None:
            if stained is None:
                stained = np.zeros(size + (3,), np.float32)
            st = resample(np.asarray(st, np.float32), (th, tw)) if scale > 1 else st
            stained[sl] += np.asarray(st, np.float32) * win[..., None]
        lab = load_labels(k)
        keep = counted.get(k, {})
        if lab is not None and keep:
            lab = resample(lab, (th, tw), order=0) if scale > 1 else lab
            mask = np.isin(lab, np.fromiter(keep, dtype=lab.dtype))
            labels[sl][mask] = lab[mask].astype(np.uint32) + np.uint32(k * LABEL_STRIDE)
    covered = wsum > 0
    gray[covered] /= wsum[covered]
    gray[~covered] = 1.0  # nothing imaged: show as clear glass
    stained_u8 = None
    if stained is not None:
        stained[covered] /= wsum[covered][:, None]
        stained[~covered] = 255.0
        stained_u8 = np.clip(stained + 0.5, 0, 255).astype(np.uint8)
    return Mosaics(
        gray=gray,
        stained=stained_u8,
        labels=labels,
        outlines=outline_overlay(labels, counted),
        pixel_size_um=pixel_size_um * scale,
        origin_px=(int(lo[0]), int(lo[1])),
        scale=scale,
    )


def outline_overlay(labels: np.ndarray, counted: Mapping[int, Mapping[int, str]]) -> np.ndarray:
    """RGB image (black elsewhere) with each cell's border in its class colour."""
    out = np.zeros(labels.shape + (3,), np.uint8)
    edge = find_boundaries(labels, mode="inner")
    ids = labels[edge]
    if ids.size == 0:
        return out
    uniq, inv = np.unique(ids, return_inverse=True)
    colours = np.array(
        [
            CLASS_COLOURS.get(
                counted.get(int(u) // LABEL_STRIDE, {}).get(int(u) % LABEL_STRIDE, ""),
                (255, 255, 255),
            )
            for u in uniq
        ],
        np.uint8,
    )
    out[edge] = colours[inv]
    return out
