"""Pyramidal OME-TIFF writer for mosaics (Fiji/Bio-Formats, napari and QuPath read these).

Full resolution in the main IFD, each 2x-smaller level in a SubIFD, 256 x 256 TIFF tiles,
zlib (deflate) with the horizontal predictor for integer images, pixel size in the OME
metadata and the TIFF resolution tags. Label images are downsampled by picking pixels (labels
must stay labels); intensity and RGB images by 2 x 2 means.

The writer takes the image as a function of row bands, so a mosaic is never whole in memory:
level 0 is rendered one band of ``tile`` rows at a time and written as it comes; its halved
bands go to a spool file beside the output, which is read back band by band to write the next
level (and spool the one after). Peak memory is a few bands whatever the mosaic's size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from uvscope.errors import StorageError
from uvscope.io.ome import ImageMeta, ome_metadata, tiff_options

BandFn = Callable[[int, int], np.ndarray]  # rows [r0, r1) of the image
ProgressFn = Callable[[str, int, int], None]  # (what, done, total)


def _half(img: np.ndarray, labels: bool, floor: bool = True) -> np.ndarray:
    """A 2x-smaller band: picked pixels for labels; 2 x 2 means (ragged edge dropped) for
    intensities, or picked pixels where the level is too small to halve (``floor`` False)."""
    if labels or not floor:
        return img[::2, ::2]
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    a = img[:h, :w].astype(np.float32)
    out = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4.0
    if np.issubdtype(img.dtype, np.integer):
        out = np.round(out)
    return out.astype(img.dtype)


def _floors(shape: tuple[int, int], labels: bool) -> bool:
    return not labels and shape[0] >= 2 and shape[1] >= 2


def level_shapes(shape: tuple[int, int], tile: int, labels: bool) -> list[tuple[int, int]]:
    """(rows, cols) of every level, halving until the largest side fits in one TIFF tile."""
    shapes = [shape]
    while max(shapes[-1]) > tile:
        r, c = shapes[-1]
        if _floors((r, c), labels):
            shapes.append((r // 2, c // 2))
        else:
            shapes.append(((r + 1) // 2, (c + 1) // 2))
    return shapes


class _Spool:
    """Rows of one pyramid level on disk, appended band by band and read back by row range."""

    def __init__(self, path: Path, cols: int, channels: int, dtype: np.dtype) -> None:
        self.path, self.dtype = path, np.dtype(dtype)
        self.row_shape = (cols,) if channels == 1 else (cols, channels)
        self.row_bytes = int(np.prod(self.row_shape)) * self.dtype.itemsize
        self.rows = 0
        self._fh = open(path, "w+b")  # noqa: SIM115 - closed by close()

    def append(self, band: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(band, self.dtype).tobytes())
        self.rows += band.shape[0]

    def read(self, r0: int, r1: int) -> np.ndarray:
        self._fh.flush()
        self._fh.seek(r0 * self.row_bytes)
        data = self._fh.read((r1 - r0) * self.row_bytes)
        return np.frombuffer(data, self.dtype).reshape((r1 - r0, *self.row_shape))

    def close(self) -> None:
        self._fh.close()
        self.path.unlink(missing_ok=True)


def _tiles(
    band: BandFn,
    shape: tuple[int, int],
    tile: int,
    spool: _Spool | None,
    labels: bool,
    report: Callable[[int], None],
) -> Iterator[np.ndarray]:
    """The TIFF tiles of one level in row-major order; the halved bands go to ``spool``."""
    rows, cols = shape
    for r0 in range(0, rows, tile):
        b = band(r0, min(r0 + tile, rows))
        if spool is not None:
            spool.append(_half(b, labels, _floors(shape, labels)))
        report(min(r0 + tile, rows))  # before the yields: tifffile stops at the last tile
        for c0 in range(0, cols, tile):
            yield np.ascontiguousarray(b[:, c0 : c0 + tile])


def write_pyramid_bands(
    path: str | Path,
    shape: tuple[int, int],
    dtype: np.dtype | type,
    channels: int,
    band: BandFn,
    pixel_size_um: float,
    *,
    labels: bool = False,
    name: str = "mosaic",
    tile: int = 256,
    meta: ImageMeta | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """Write an image given by ``band(r0, r1)`` as a tiled pyramidal OME-TIFF, atomically.

    ``band`` is called once per band of ``tile`` rows, top to bottom. ``meta`` adds wavelength
    and stage position to the OME metadata (pixel size comes from ``pixel_size_um``, the name
    from ``name`` when ``meta`` has none)."""
    p = Path(path)
    if channels not in (1, 3):
        raise StorageError(f"{p}: mosaics are (Y, X) or (Y, X, 3); got {channels} channels")
    dtype = np.dtype(dtype)
    rgb = channels == 3
    shapes = level_shapes(shape, tile, labels)
    base = meta if meta is not None else ImageMeta(pixel_size_um)
    ome = ome_metadata(
        replace(base, pixel_size_um=pixel_size_um, name=base.name or name), "YXS" if rgb else "YX"
    )
    opts = {"tile": (tile, tile), **tiff_options(dtype, pixel_size_um, rgb)}
    opts.pop("resolution")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".part")
    spools: list[_Spool] = []
    total = sum(s[0] for s in shapes)
    done = [0]
    what = base.name or name

    def reporter(before: int) -> Callable[[int], None]:
        def report(rows_done: int) -> None:
            if progress is not None:
                progress(what, before + rows_done, total)

        return report

    try:
        with tifffile.TiffWriter(tmp, bigtiff=True, ome=True) as tif:
            res = 1e4 / pixel_size_um
            current: BandFn = band
            for k, lev in enumerate(shapes):
                spool = None
                if k + 1 < len(shapes):
                    spool = _Spool(
                        tmp.with_name(f"{tmp.name}.l{k + 1}"), shapes[k + 1][1], channels, dtype
                    )
                    spools.append(spool)
                data = _tiles(current, lev, tile, spool, labels, reporter(done[0]))
                full = lev if channels == 1 else (*lev, channels)
                r = res / 2**k
                extra: dict[str, Any] = (
                    {"subifds": len(shapes) - 1, "metadata": ome} if k == 0 else {"subfiletype": 1}
                )
                tif.write(data, shape=full, dtype=dtype, resolution=(r, r), **extra, **opts)
                done[0] += lev[0]
                if spool is not None:
                    current = spool.read
        os.replace(tmp, p)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"{p}: could not write the mosaic ({err}); check free space") from err
    finally:
        for s in spools:
            s.close()
    return p


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
    """Write an in-memory ``img`` (Y, X) or RGB (Y, X, 3) as a tiled pyramidal OME-TIFF."""
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise StorageError(f"{path}: mosaics are (Y, X) or (Y, X, 3); got shape {img.shape}")
    channels = 1 if img.ndim == 2 else 3
    base = replace(meta if meta is not None else ImageMeta(pixel_size_um), name=name)
    return write_pyramid_bands(
        path,
        img.shape[:2],
        img.dtype,
        channels,
        lambda r0, r1: img[r0:r1],
        pixel_size_um,
        labels=labels,
        name=name,
        tile=tile,
        meta=base,
    )


def read_level(path: str | Path, level: int = 0) -> np.ndarray:
    """One pyramid level (0 = full resolution)."""
    with tifffile.TiffFile(path) as tif:
        return tif.series[0].levels[level].asarray()
