"""Pyramidal OME-TIFF writer for mosaics (Fiji/Bio-Formats, napari and QuPath read these).

Full resolution in the main IFD, each 2x-smaller level in a SubIFD, 256 x 256 TIFF tiles,
zlib (deflate) with the horizontal predictor for integer images, pixel size in the OME
metadata and the TIFF resolution tags. Label images are downsampled by picking pixels (labels
must stay labels); intensity and RGB images by 2 x 2 means.

The writer takes the image band by band (``PyramidStream.add``; ``write_pyramid_bands`` for
an image given as a function of row bands), so a mosaic is never whole in memory: each
level's TIFF tiles are deflated as soon as a band of that level is complete and spooled to
disk beside the output, the halved band feeding the next level; closing only copies the
encoded tiles into the file. A mosaic can so be rendered during a scan, band by band as the
tiles under it arrive, and finished in the time it takes to copy it. Peak memory is a few
bands whatever the mosaic's size.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from tifffile import TIFF

from uvscope.errors import StorageError
from uvscope.imaging import block_mean
from uvscope.io.ome import ImageMeta, ome_metadata, tiff_options

BandFn = Callable[[int, int], np.ndarray]  # rows [r0, r1) of the image
ProgressFn = Callable[[str, int, int], None]  # (what, done, total)


def _half(img: np.ndarray, labels: bool, floor: bool = True) -> np.ndarray:
    """A 2x-smaller band: picked pixels for labels; 2 x 2 means (ragged edge dropped) for
    intensities, or picked pixels where the level is too small to halve (``floor`` False)."""
    if labels or not floor:
        return img[::2, ::2]
    out = block_mean(img, 2)
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


def tile_encoder(
    dtype: np.dtype, channels: int, opts: dict[str, Any]
) -> Callable[[np.ndarray], bytes]:
    """Encode one TIFF tile as tifffile does for ``opts`` (zero-padded to the full tile, the
    predictor along the rows, deflate), so pre-encoded tiles give the bytes it would write."""
    th, tw = opts["tile"]
    full = (th, tw) if channels == 1 else (th, tw, channels)
    compressor = TIFF.COMPRESSORS[8] if opts.get("compression") else None
    predictor = TIFF.PREDICTORS[2] if opts.get("predictor") == 2 else None
    axis = -1 if channels == 1 else -2  # tifffile's row axis for (Y, X) and (Y, X, S) tiles

    def encode(chunk: np.ndarray) -> bytes:
        chunk = np.ascontiguousarray(chunk, dtype)
        if chunk.shape != full:
            chunk = np.pad(chunk, [(0, f - c) for f, c in zip(full, chunk.shape, strict=True)])
        if compressor is None:
            return chunk.tobytes()
        if predictor is not None:
            chunk = predictor(chunk, axis=axis)
        return bytes(compressor(chunk))

    return encode


class _EncodedSpool:
    """The encoded TIFF tiles of one pyramid level, in row-major order, in an anonymous file
    beside the output (removed by the OS however the process ends: a killed scan leaves no
    spool behind)."""

    def __init__(self, folder: Path) -> None:
        self.sizes: list[int] = []
        self._fh = tempfile.TemporaryFile(dir=folder, prefix=".mosaic-spool-")  # noqa: SIM115

    def append(self, data: bytes) -> None:
        self._fh.write(data)
        self.sizes.append(len(data))

    def chunks(self) -> Iterator[bytes]:
        self._fh.flush()
        self._fh.seek(0)
        for n in self.sizes:
            yield self._fh.read(n)

    def close(self) -> None:
        self._fh.close()


class PyramidStream:
    """A pyramidal OME-TIFF written band by band as the bands become known.

    ``add`` takes the next rows of the full-resolution image (top to bottom, any number of
    rows at a time); every level's TIFF tiles are encoded as soon as a band of ``tile`` rows of
    that level is complete and spooled to disk beside the output, and each band's halved rows
    feed the next level. ``close`` then only copies the encoded tiles into the file (no image
    work is left), atomically. Memory: at most one band per level. The file is byte for byte
    what tifffile writes from the whole image with the same options.
    """

    def __init__(
        self,
        path: str | Path,
        shape: tuple[int, int],
        dtype: np.dtype | type,
        channels: int,
        pixel_size_um: float,
        *,
        labels: bool = False,
        name: str = "mosaic",
        tile: int = 256,
        meta: ImageMeta | None = None,
    ) -> None:
        self.path = Path(path)
        if channels not in (1, 3):
            raise StorageError(
                f"{self.path}: mosaics are (Y, X) or (Y, X, 3); got {channels} channels"
            )
        self.dtype, self.channels, self.labels, self.tile = np.dtype(dtype), channels, labels, tile
        self.shape = (int(shape[0]), int(shape[1]))
        self.pixel_size_um = pixel_size_um
        self.shapes = level_shapes(self.shape, tile, labels)
        base = meta if meta is not None else ImageMeta(pixel_size_um)
        self.what = base.name or name
        self._ome = ome_metadata(
            replace(base, pixel_size_um=pixel_size_um, name=self.what),
            "YXS" if channels == 3 else "YX",
        )
        self._opts: dict[str, Any] = {
            "tile": (tile, tile),
            **tiff_options(self.dtype, pixel_size_um, channels == 3),
        }
        self._opts.pop("resolution")
        self._encode = tile_encoder(self.dtype, channels, self._opts)
        self.tmp = self.path.with_suffix(self.path.suffix + ".part")
        self._spools: list[_EncodedSpool] = []
        self._pending: list[list[np.ndarray]] = [[] for _ in self.shapes]
        self._received = [0 for _ in self.shapes]  # rows of each level taken so far
        self._encoded = [0 for _ in self.shapes]  # rows of each level encoded so far
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._spools = [_EncodedSpool(self.path.parent) for _ in self.shapes]
        except OSError as err:
            self.abort()
            raise StorageError(f"{self.path}: cannot write the mosaic ({err})") from err
        self.closed = False

    @property
    def rows_added(self) -> int:
        """Full-resolution rows taken so far."""
        return self._received[0]

    def add(self, band: np.ndarray) -> None:
        """The next rows of the full-resolution image, (rows, cols[, channels])."""
        want = (self.shape[1],) if self.channels == 1 else (self.shape[1], self.channels)
        if band.shape[1:] != want or self._received[0] + band.shape[0] > self.shape[0]:
            raise StorageError(
                f"{self.path}: band of shape {band.shape} after row {self._received[0]} does not "
                f"fit a {self.shape} image"
            )
        try:
            self._feed(0, np.asarray(band, self.dtype))
        except OSError as err:
            self.abort()
            raise StorageError(
                f"{self.path}: could not write the mosaic ({err}); check free space"
            ) from err

    def _feed(self, k: int, rows: np.ndarray) -> None:
        if rows.shape[0] == 0:
            return
        self._pending[k].append(rows)
        self._received[k] += rows.shape[0]
        lev = self.shapes[k]
        buffered = self._received[k] - self._encoded[k]
        while buffered >= self.tile or (buffered > 0 and self._received[k] == lev[0]):
            whole = (
                np.concatenate(self._pending[k])
                if len(self._pending[k]) > 1
                else self._pending[k][0]
            )
            n = min(self.tile, whole.shape[0])
            b, rest = whole[:n], whole[n:]
            self._pending[k] = [rest] if rest.shape[0] else []
            for c0 in range(0, lev[1], self.tile):
                self._spools[k].append(self._encode(b[:, c0 : c0 + self.tile]))
            self._encoded[k] += n
            buffered -= n
            if k + 1 < len(self.shapes):
                self._feed(k + 1, _half(b, self.labels, _floors(lev, self.labels)))

    def close(self) -> Path:
        """Write the file from the encoded tiles (every row must have been added)."""
        if self._received[0] != self.shape[0]:
            self.abort()
            raise StorageError(
                f"{self.path}: only {self._received[0]} of {self.shape[0]} rows were rendered"
            )
        try:
            with tifffile.TiffWriter(self.tmp, bigtiff=True, ome=True) as tif:
                res = 1e4 / self.pixel_size_um
                for k, lev in enumerate(self.shapes):
                    full = lev if self.channels == 1 else (*lev, self.channels)
                    r = res / 2**k
                    extra: dict[str, Any] = (
                        {"subifds": len(self.shapes) - 1, "metadata": self._ome}
                        if k == 0
                        else {"subfiletype": 1}
                    )
                    tif.write(
                        self._spools[k].chunks(),
                        shape=full,
                        dtype=self.dtype,
                        resolution=(r, r),
                        **extra,
                        **self._opts,
                    )
            os.replace(self.tmp, self.path)
        except OSError as err:
            self.abort()
            raise StorageError(
                f"{self.path}: could not write the mosaic ({err}); check free space"
            ) from err
        self._release()
        self.closed = True
        return self.path

    def _release(self) -> None:
        for s in self._spools:
            s.close()
        self._spools = []
        self._pending = [[] for _ in self.shapes]

    def abort(self) -> None:
        """Drop everything written so far (spools and the partial file)."""
        self._release()
        self.tmp.unlink(missing_ok=True)
        self.closed = True


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
    stream = PyramidStream(
        path,
        shape,
        dtype,
        channels,
        pixel_size_um,
        labels=labels,
        name=name,
        tile=tile,
        meta=meta,
    )
    rows = stream.shape[0]
    try:
        for r0 in range(0, rows, tile):
            stream.add(band(r0, min(r0 + tile, rows)))
            if progress is not None:
                progress(stream.what, min(r0 + tile, rows), rows)
    except BaseException:
        stream.abort()
        raise
    return stream.close()


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
