"""Pyramidal OME-TIFF writer for mosaics (Fiji/Bio-Formats, napari and QuPath read these).

Full resolution in the main IFD, each 2x-smaller level in a SubIFD, 256 x 256 TIFF tiles,
pixel size in the OME metadata and the TIFF resolution tags. Label images are downsampled by
picking pixels (labels must stay labels); intensity and RGB images by 2 x 2 means.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile

from uvscope.errors import StorageError
from uvscope.io.ome import ImageMeta, ome_metadata


def _half(img: np.ndarray, labels: bool) -> np.ndarray:
    if labels:
        return img[::2, ::2]
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    if h == 0 or w == 0:
        return img[::2, ::2]
    a = img[:h, :w].astype(np.float32)
    out = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4.0
    if np.issubdtype(img.dtype, np.integer):
        out = np.round(out)
    return out.astype(img.dtype)


def pyramid_levels(img: np.ndarray, tile: int, labels: bool) -> list[np.ndarray]:
    """The image and its halvings until the largest side fits in one TIFF tile."""
    levels = [img]
    while max(levels[-1].shape[:2]) > tile:
        levels.append(_half(levels[-1], labels))
    return levels


def write_pyramid(
    path: str | Path,
    img: np.ndarray,
    pixel_size_um: float,
    *,
    labels: bool = False,
    name: str = "mosaic",
    tile: int = 256,
    meta: ImageMeta | None = None,
) -> Path:
    """Write ``img`` (Y, X) or RGB (Y, X, 3) as a tiled pyramidal OME-TIFF.

    ``meta`` adds wavelength and stage position to the OME metadata (pixel size and name
    come from the other arguments)."""
    p = Path(path)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise StorageError(f"{p}: mosaics are (Y, X) or (Y, X, 3); got shape {img.shape}")
    rgb = img.ndim == 3
    levels = pyramid_levels(img, tile, labels)
    base = meta if meta is not None else ImageMeta(pixel_size_um)
    ome = ome_metadata(replace(base, pixel_size_um=pixel_size_um, name=name),
                       "YXS" if rgb else "YX")
    opts = {
        "tile": (tile, tile),
        "photometric": "rgb" if rgb else "minisblack",
        "compression": "zlib",
        "resolutionunit": "CENTIMETER",
    }
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".part")
    try:
        with tifffile.TiffWriter(tmp, bigtiff=True, ome=True) as tif:
            res = 1e4 / pixel_size_um
            tif.write(
                levels[0], subifds=len(levels) - 1, metadata=ome, resolution=(res, res), **opts
            )
            for k, lev in enumerate(levels[1:], start=1):
                r = res / 2**k
                tif.write(lev, subfiletype=1, resolution=(r, r), **opts)
        tmp.replace(p)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"{p}: could not write the mosaic ({err}); check free space") from err
    return p


def read_level(path: str | Path, level: int = 0) -> np.ndarray:
    """One pyramid level (0 = full resolution)."""
    with tifffile.TiffFile(path) as tif:
        return tif.series[0].levels[level].asarray()
