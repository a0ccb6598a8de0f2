"""The analysis mosaics: gray and stained tiles blended, counted cells as labels and outlines.

Built with the one mosaic builder (``uvscope.io.mosaic``) at the registered tile origins,
streamed band by band into pyramidal OME-TIFFs. The label mosaic holds exactly the cells of
the cell table, each pasted whole from the tile that counted it, numbered
``tile * 10000 + label``; the outline overlay colours their borders by class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.segmentation import find_boundaries

from uvscope.analysis.settings import MosaicSettings
from uvscope.classes import CLASS_COLOURS, LABEL_STRIDE, UNKNOWN_COLOUR
from uvscope.io.mosaic import GRAY_QUANTUM, Layer, MosaicGeometry, render_layer
from uvscope.io.mosaic_pyramid import BandFn, ProgressFn

__all__ = ["KINDS", "LABEL_STRIDE", "TileSources", "outline_overlay", "write_analysis_mosaics"]
KINDS = ("gray", "stained", "labels", "outlines")
MOSAIC_THREADS = 2
NAMES = {
    "gray": "gray",
    "stained": "virtually stained",
    "labels": "cells (tile * 10000 + label)",
    "outlines": "cell outlines by class",
}


@dataclass(frozen=True)
class TileSources:
    """Where the builder reads each tile's images (None: the tile has none of that kind)."""

    gray: Callable[[int], np.ndarray | None]
    stained: Callable[[int], np.ndarray | None]
    labels: Callable[[int], np.ndarray | None]


def counted_labels(lab: np.ndarray | None, tile: int, keep: Mapping[int, str]) -> np.ndarray | None:
    """The tile's counted cells with their global ids (``tile * LABEL_STRIDE + label``)."""
    if lab is None or not keep:
        return None
    mask = np.isin(lab, np.fromiter(keep, dtype=np.int64))
    out = np.zeros(lab.shape, np.uint32)
    out[mask] = lab[mask].astype(np.uint32) + np.uint32(tile * LABEL_STRIDE)
    return out


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
                UNKNOWN_COLOUR,
            )
            for u in uniq
        ],
        np.uint8,
    )
    out[edge] = colours[inv]
    return out


def outline_bands(
    counted: Mapping[int, Mapping[int, str]], rows: int
) -> Callable[[BandFn], BandFn]:
    """Turns label bands into outline bands (one row of labels above and below each band, so
    borders on band edges are found as on the whole image)."""

    def transform(label_band: BandFn) -> BandFn:
        def band(r0: int, r1: int) -> np.ndarray:
            lo, hi = max(r0 - 1, 0), min(r1 + 1, rows)
            rgb = outline_overlay(label_band(lo, hi), counted)
            return rgb[r0 - lo : r0 - lo + (r1 - r0)]

        return band

    return transform


def mosaic_layers(
    sources: TileSources, counted: Mapping[int, Mapping[int, str]], settings: MosaicSettings
) -> dict[str, Layer]:
    """The four layers: gray (clear glass where nothing was imaged), stained (white), labels."""
    bw = settings.blend_width_px
    gray = Layer(
        sources.gray, np.dtype(np.float32), fill=1.0, blend_width_px=bw, quantum=GRAY_QUANTUM
    )
    stained = Layer(sources.stained, np.dtype(np.uint8), 3, fill=255.0, blend_width_px=bw)
    labels = Layer(
        lambda k: counted_labels(sources.labels(k), k, counted.get(k, {})),
        np.dtype(np.uint32),
        mode="paste",
    )
    return {"gray": gray, "stained": stained, "labels": labels, "outlines": labels}


def write_analysis_mosaics(
    paths: Mapping[str, Path],
    origins: Mapping[int, np.ndarray],
    tile_shape: tuple[int, int],
    pixel_size_um: float,
    sources: TileSources,
    counted: Mapping[int, Mapping[int, str]],
    settings: MosaicSettings | None = None,
    *,
    stained: bool = True,
    mosaic_pixel_size_um: float | None = None,
    progress: ProgressFn | None = None,
) -> MosaicGeometry:
    """Write the gray, stained (when ``stained``), label and outline mosaics to ``paths``.

    ``mosaic_pixel_size_um`` (``settings.pixel_size_um`` first, else the caller's: the
    networks') sets the finest mosaic pixel; labels and staining come from the networks at
    their pixel size, so a finer mosaic would only repeat pixels."""
    s = settings or MosaicSettings()
    if not origins:
        raise ValueError("no tiles to stitch")
    target = s.pixel_size_um or mosaic_pixel_size_um or pixel_size_um
    min_scale = max(1, int(round(target / pixel_size_um)))
    geometry = MosaicGeometry.covering(origins, tile_shape, pixel_size_um, s.max_pixels, min_scale)
    layers = mosaic_layers(sources, counted, s)

    def write(kind: str) -> None:
        outlines = kind == "outlines"
        render_layer(
            paths[kind],
            geometry,
            origins,
            layers[kind],
            NAMES[kind],
            tile=s.tile_size,
            band_transform=outline_bands(counted, geometry.shape[0]) if outlines else None,
            out_dtype=np.dtype(np.uint8) if outlines else None,
            out_channels=3 if outlines else None,
            progress=progress,
        )

    kinds = [k for k in KINDS if stained or k != "stained"]
    # two layers at a time: reading, blending and deflate release the GIL, so two cores work
    # (each layer holds its own band and tile cache: memory stays a few bands)
    with ThreadPoolExecutor(max_workers=MOSAIC_THREADS, thread_name_prefix="mosaic") as pool:
        for fut in [pool.submit(write, k) for k in kinds]:
            fut.result()
    return geometry
