"""Mosaics placed by stage coordinates, with feathered (linear) blending in the overlaps.

Tiles are read back from the scan folder one at a time and block-averaged down when the
full-resolution mosaic would exceed ``max_pixels``, so memory stays flat in the number of
tiles. (Registration-refined mosaics come from the analysis room.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from uvscope.geometry import stage_to_pixel
from uvscope.io.mosaic_pyramid import write_pyramid
from uvscope.io.ome import ImageMeta
from uvscope.io.scanfolder import ScanFolder


def feather_weights(shape: tuple[int, int]) -> np.ndarray:
    """Weights that fall linearly to the tile edges (never exactly 0)."""
    h, w = shape
    wy = np.minimum(np.arange(h) + 1, np.arange(h, 0, -1)).astype(np.float32)
    wx = np.minimum(np.arange(w) + 1, np.arange(w, 0, -1)).astype(np.float32)
    return np.outer(wy / wy.max(), wx / wx.max())


def block_reduce_mean(img: np.ndarray, f: int) -> np.ndarray:
    if f == 1:
        return img.astype(np.float32)
    h, w = img.shape[0] // f * f, img.shape[1] // f * f
    a = img[:h, :w].astype(np.float32)
    return a.reshape(h // f, f, w // f, f, *a.shape[2:]).mean(axis=(1, 3))


def blend_tiles(
    tiles: Iterable[tuple[np.ndarray, float, float]],
    bounds_mm: tuple[float, float, float, float],
    pixel_size_um: float,
    downsample: int = 1,
    channels: int = 1,
) -> np.ndarray:
    """Blend (image, x_mm, y_mm) tiles into one image covering ``bounds_mm``."""
    px = pixel_size_um * downsample
    x0, y0, x1, y1 = bounds_mm
    width = int(math.ceil((x1 - x0) * 1000 / px)) + 1
    height = int(math.ceil((y1 - y0) * 1000 / px)) + 1
    shape = (height, width) if channels == 1 else (height, width, channels)
    acc = np.zeros(shape, np.float32)
    wsum = np.zeros((height, width), np.float32)
    weights: dict[tuple[int, int], np.ndarray] = {}
    for image, x_mm, y_mm in tiles:
        small = block_reduce_mean(image, downsample)
        h, w = small.shape[:2]
        if (h, w) not in weights:
            weights[(h, w)] = feather_weights((h, w))
        wt = weights[(h, w)]
        # top-left pixel of this tile in mosaic pixels
        r0, c0 = stage_to_pixel(x0, y0, (x_mm, y_mm), (h, w), px)
        top, left = int(round(-float(r0))), int(round(-float(c0)))
        rs, cs = max(top, 0), max(left, 0)
        re, ce = min(top + h, height), min(left + w, width)
        if re <= rs or ce <= cs:
            continue
        sub = small[rs - top:re - top, cs - left:ce - left]
        sw = wt[rs - top:re - top, cs - left:ce - left]
        if channels == 1:
            acc[rs:re, cs:ce] += sub * sw
        else:
            acc[rs:re, cs:ce] += sub * sw[..., None]
        wsum[rs:re, cs:ce] += sw
    nz = wsum > 0
    if channels == 1:
        acc[nz] /= wsum[nz]
    else:
        acc[nz] /= wsum[nz][:, None]
    return acc


def choose_downsample(bounds_mm: tuple[float, float, float, float], pixel_size_um: float,
                      max_pixels: int) -> int:
    x0, y0, x1, y1 = bounds_mm
    n = (x1 - x0) * (y1 - y0) * 1e6 / pixel_size_um**2
    return max(1, int(math.ceil(math.sqrt(n / max_pixels))))


def write_stage_mosaics(folder: ScanFolder, max_pixels: int = 32_000_000) -> list[str]:
    """One mosaic per wavelength of the finished tiles, placed by their stage positions."""
    manifest = folder.read_manifest()
    plan = manifest["plan"]
    px = float(plan["pixel_size_um"])
    bounds = tuple(plan["bounds_mm"])
    records = folder.verified_tiles()
    if not records:
        return []
    f = choose_downsample(bounds, px, max_pixels)  # type: ignore[arg-type]
    written = []
    for nm in plan["wavelengths"]:
        def tiles(nm: int = nm) -> Iterable[tuple[np.ndarray, float, float]]:
            for idx in sorted(records):
                rec = records[idx]
                if nm in rec.wavelengths:
                    img, _ = folder.read_tile(idx, nm)
                    yield img, rec.x_mm, rec.y_mm
        mosaic = blend_tiles(tiles(), bounds, px, f)  # type: ignore[arg-type]
        meta = ImageMeta(px * f, nm, None, (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
        write_pyramid(folder.mosaic_path(nm), mosaic, px * f, meta=meta,
                      name=f"mosaic {nm} nm (stage positions, downsample {f})")
        written.append(str(folder.mosaic_path(nm)))
    folder.update_manifest(mosaic={"downsample": f, "files": written, "placement": "stage"})
    return written
