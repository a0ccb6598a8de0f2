"""Turn acquired tiles and analysis results into small display images (runs off the GUI thread).

Everything here is numpy only: block-mean pyramids, 8-bit gray, label colouring, class outlines
and gallery crops. The GUI thread only uploads the results into image items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from uvscope.gui.results import DisplayCell, DisplayTile
from uvscope.gui.style import class_color
from uvscope.imaging import block_mean

MODES: tuple[str, ...] = ("gray", "stained", "masks", "outlines")
#: pyramid levels kept per tile (downsampling factors): coarse always shown, fine when zoomed in
LEVELS: tuple[int, ...] = (8, 4, 2)


@dataclass
class MosaicTile:
    """Display images of one tile; ``images[mode][factor]`` is gray (H, W) or RGB (H, W, 3)."""

    index: int
    x_mm: float
    y_mm: float
    width_um: float
    height_um: float
    images: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    shape: tuple[int, int] | None = None  #: full-resolution (rows, columns)


def to_gray_u8(normalised: np.ndarray, top: float = 1.1) -> np.ndarray:
    """Transmission (1.0 = blank) mapped to 8 bits with one fixed scale so tiles match."""
    gray: np.ndarray = (np.clip(normalised, 0.0, top) * (255.0 / top)).astype(np.uint8)
    return gray


def pyramid(img: np.ndarray, levels: tuple[int, ...] = LEVELS) -> dict[int, np.ndarray]:
    return {f: block_mean(img, f).astype(np.uint8) for f in levels}


def label_overlay(gray: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Gray image with each instance tinted by a colour from its label (masks mode)."""
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    lab = labels.astype(np.int64)
    on = lab > 0
    if on.any():
        palette = np.stack(
            [(lab * 97) % 200 + 55, (lab * 57) % 200 + 55, (lab * 131) % 200 + 55], axis=-1
        ).astype(np.float32)
        rgb[on] = (1 - alpha) * rgb[on] + alpha * palette[on]
    return rgb.astype(np.uint8)


def class_outlines(
    base_rgb: np.ndarray, labels: np.ndarray, cells: list[DisplayCell]
) -> np.ndarray:
    """``base_rgb`` with each classified cell's boundary drawn in its class colour."""
    out = base_rgb.copy()
    lab = labels.astype(np.int64)
    boundary = lab != ndimage.grey_erosion(lab, size=3)
    boundary &= lab > 0
    if not cells or not boundary.any():
        return out
    lut = np.zeros((int(lab.max()) + 1, 3), np.uint8)
    known = np.zeros(int(lab.max()) + 1, bool)
    for c in cells:
        if 0 < c.label < len(lut):
            lut[c.label] = class_color(c.cls)
            known[c.label] = True
    draw = boundary & known[lab]
    out[draw] = lut[lab[draw]]
    return out


def rgb_pyramid(rgb: np.ndarray, levels: tuple[int, ...] = LEVELS) -> dict[int, np.ndarray]:
    return {f: block_mean(rgb, f).astype(np.uint8) for f in levels}


def crop_thumb(
    stained: np.ndarray,
    gray: np.ndarray,
    bbox: tuple[int, int, int, int],
    size: int = 96,
    margin: int = 6,
) -> np.ndarray:
    """Stained crop beside gray crop, each ``size`` x ``size``, centred on the cell's box.

    96 px: enough for the enlarged view to show granules; the gallery shows them smaller.
    """
    r0, c0, r1, c1 = bbox
    half = max(r1 - r0, c1 - c0) // 2 + margin
    rc, cc = (r0 + r1) // 2, (c0 + c1) // 2
    h, w = gray.shape
    rows = np.clip(np.arange(rc - half, rc + half), 0, h - 1)
    cols = np.clip(np.arange(cc - half, cc + half), 0, w - 1)
    idx_r = rows[np.linspace(0, len(rows) - 1, size).astype(int)]
    idx_c = cols[np.linspace(0, len(cols) - 1, size).astype(int)]
    s = stained[np.ix_(idx_r, idx_c)]
    g = gray[np.ix_(idx_r, idx_c)]
    return np.concatenate([s, np.repeat(g[..., None], 3, axis=2)], axis=1)


def result_images(
    gray_full: np.ndarray, result: DisplayTile, levels: tuple[int, ...] = LEVELS
) -> dict[str, dict[int, np.ndarray]]:
    """The stained, masks and outlines pyramids of an analysed tile.

    Masks and outlines are drawn at each level from subsampled labels, so outlines stay one
    crisp screen pixel wide instead of being averaged away.
    """
    stained = result.stained
    if stained.shape[:2] != gray_full.shape or result.labels.shape != gray_full.shape:
        raise ValueError(
            f"tile {result.tile_index}: stained {stained.shape[:2]} / labels "
            f"{result.labels.shape} do not match the acquired tile {gray_full.shape}"
        )
    out: dict[str, dict[int, np.ndarray]] = {"stained": {}, "masks": {}, "outlines": {}}
    for f in levels:
        st = block_mean(stained, f).astype(np.uint8)
        gr = block_mean(gray_full, f).astype(np.uint8)
        lab = result.labels[f // 2 :: f, f // 2 :: f][: st.shape[0], : st.shape[1]]
        out["stained"][f] = st
        out["masks"][f] = label_overlay(gr, lab)
        out["outlines"][f] = class_outlines(st, lab, result.cells)
    return out
