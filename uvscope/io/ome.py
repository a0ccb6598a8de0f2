"""Lossless OME-TIFF files with the metadata a reader needs to place and interpret an image.

Writes are atomic (a temporary file renamed into place), so a scan killed mid-write never
leaves a truncated TIFF under the final name.
"""

from __future__ import annotations

import logging
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from uvscope.errors import StorageError

_NS = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"


@dataclass(frozen=True)
class ImageMeta:
    """What travels with every image uvscope writes."""

    pixel_size_um: float
    wavelength_nm: int | None = None
    exposure_ms: float | None = None
    x_mm: float | None = None
    y_mm: float | None = None
    z_um: float | None = None
    name: str | None = None


def ome_metadata(meta: ImageMeta, axes: str) -> dict[str, object]:
    md: dict[str, object] = {
        "axes": axes,
        "PhysicalSizeX": meta.pixel_size_um,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": meta.pixel_size_um,
        "PhysicalSizeYUnit": "µm",
    }
    if meta.name:
        md["Name"] = meta.name
    if meta.wavelength_nm is not None:
        md["Channel"] = {
            "Name": [f"{meta.wavelength_nm} nm"],
            "ExcitationWavelength": [float(meta.wavelength_nm)],
            "ExcitationWavelengthUnit": ["nm"],
        }
    plane: dict[str, list[object]] = {}
    if meta.exposure_ms is not None:
        plane["ExposureTime"] = [meta.exposure_ms / 1000.0]
        plane["ExposureTimeUnit"] = ["s"]
    for key, value, unit in (
        ("PositionX", meta.x_mm, "mm"),
        ("PositionY", meta.y_mm, "mm"),
        ("PositionZ", meta.z_um, "µm"),
    ):
        if value is not None:
            plane[key] = [float(value)]
            plane[key + "Unit"] = [unit]
    if plane:
        md["Plane"] = plane
    return md


def tiff_options(
    dtype: np.dtype, pixel_size_um: float, rgb: bool, compression: str | None = "zlib"
) -> dict[str, Any]:
    """tifffile options every uvscope image gets: photometric, resolution tags, compression.

    Lossless zlib (deflate); integer images also get the horizontal predictor (2), which
    Bio-Formats, tifffile and bioio read. Floating-point images get no predictor: Bio-Formats
    cannot read the floating-point predictor (3). Resolution in pixels per centimetre, so
    readers that use the TIFF tags (not the OME XML) also see micrometres.
    """
    res = 1e4 / pixel_size_um
    opts: dict[str, Any] = {
        "photometric": "rgb" if rgb else "minisblack",
        "resolution": (res, res),
        "resolutionunit": "CENTIMETER",
        "compression": compression,
    }
    if compression is not None and np.issubdtype(dtype, np.integer):
        opts["predictor"] = 2
    return opts


def write_ome_tiff(
    path: str | Path,
    image: np.ndarray,
    meta: ImageMeta,
    compression: str | None = "zlib",
    axes: str | None = None,
    channel_names: list[str] | None = None,
) -> Path:
    """Write ``image`` (YX, YXS for RGB, or CYX with ``axes``) losslessly with OME metadata,
    atomically."""
    path = Path(path)
    if axes is None:
        axes = "YXS" if image.ndim == 3 and image.shape[-1] in (3, 4) else "YX"
    if image.ndim != len(axes):
        raise StorageError(f"cannot write an image of shape {image.shape} to {path}")
    md = ome_metadata(meta, axes)
    if channel_names is not None:
        md["Channel"] = {"Name": channel_names}
    planes = image.shape[0] if axes.startswith("C") else 1
    plane = md.get("Plane")
    if planes > 1 and isinstance(plane, dict):  # one entry per plane
        md["Plane"] = {k: v * planes for k, v in plane.items()}
    tmp = path.with_name(path.name + ".part")
    try:
        tifffile.imwrite(
            tmp,
            image,
            ome=True,
            metadata=md,
            **tiff_options(image.dtype, meta.pixel_size_um, axes == "YXS", compression),
        )
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"could not write {path}: {err.strerror or err}") from err
    return path


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _tifffile_quiet() -> Iterator[list[str]]:
    """tifffile logs (and skips) a damaged tag; collect those messages instead, so the caller
    reports the damage itself (a truncated file can lose its OME description that way)."""
    log = logging.getLogger("tifffile")
    level, propagate = log.level, log.propagate
    handler = _Collect()
    log.setLevel(logging.ERROR)
    log.propagate = False
    log.addHandler(handler)
    try:
        yield handler.messages
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


def tiff_damage(path: str | Path) -> str | None:
    """Why the TIFF at ``path`` cannot be trusted, or None when it looks whole.

    Cheap (about 0.1 ms): reads the header and first IFD, never the pixels, and checks that
    every tag could be read, the image data lies inside the file and, uncompressed, has the
    size the header implies.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with _tifffile_quiet() as logged, tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            offsets, counts = list(page.dataoffsets), list(page.databytecounts)
            if page.dtype is None:  # a sample format numpy has no type for
                raise ValueError("unsupported sample format")
            expected = math.prod(page.shape) * page.dtype.itemsize
            uncompressed = page.compression == 1
        if logged:
            return f"truncated or damaged: a tag could not be read ({logged[0]})"
    except FileNotFoundError:
        return "missing"
    except Exception as err:  # tifffile raises many kinds for damaged files
        return f"not a readable TIFF ({err})"
    if not offsets:
        return "no image data"
    end = max(o + c for o, c in zip(offsets, counts, strict=True))
    if end > size:
        return f"truncated: {size} bytes, the image data runs to byte {end}"
    if uncompressed and sum(counts) != expected:
        return f"image data is {sum(counts)} bytes, the header says {expected}"
    return None


def read_ome_tiff(path: str | Path) -> tuple[np.ndarray, ImageMeta]:
    """Read an image written by ``write_ome_tiff`` (or any single-plane OME-TIFF)."""
    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tf:
            image = tf.series[0].asarray()
            xml = tf.ome_metadata
    except FileNotFoundError:
        raise StorageError(f"{path}: no such file") from None
    except Exception as err:  # tifffile raises many kinds for damaged files
        raise StorageError(f"{path}: not a readable TIFF (truncated or damaged?): {err}") from err
    if not xml:
        damage = tiff_damage(path)
        if damage is not None:
            raise StorageError(f"{path}: not a readable TIFF (truncated or damaged?): {damage}")
        raise StorageError(f"{path}: no OME metadata; was it written by uvscope?")
    return image, parse_ome_meta(xml)


def parse_ome_meta(xml: str) -> ImageMeta:
    root = ET.fromstring(xml)
    pixels = root.find(f"{_NS}Image/{_NS}Pixels")
    if pixels is None:
        raise StorageError("OME metadata has no Pixels element")
    image_el = root.find(f"{_NS}Image")
    channel = pixels.find(f"{_NS}Channel")
    plane = pixels.find(f"{_NS}Plane")

    def f(el: ET.Element | None, key: str) -> float | None:
        if el is None or el.get(key) is None:
            return None
        return float(el.get(key))  # type: ignore[arg-type]

    wl = f(channel, "ExcitationWavelength")
    exposure = f(plane, "ExposureTime")
    return ImageMeta(
        pixel_size_um=f(pixels, "PhysicalSizeX") or 1.0,
        wavelength_nm=int(round(wl)) if wl is not None else None,
        exposure_ms=exposure * 1000.0 if exposure is not None else None,
        x_mm=f(plane, "PositionX"),
        y_mm=f(plane, "PositionY"),
        z_um=f(plane, "PositionZ"),
        name=image_el.get("Name") if image_el is not None else None,
    )
