"""The analysis mosaics: gray and stained tiles blended, counted cells as labels and outlines.

Built with the one mosaic builder (``uvscope.io.mosaic``) at the registered tile origins,
streamed band by band into pyramidal OME-TIFFs *while the tiles are analysed*:
``AnalysisMosaics.add`` takes each analysed tile; as soon as every tile that can reach the
next band is in, those tiles' origins are fixed (``StreamingRegistration.freeze``: solved
against the tiles above, already fixed) and the band is written. After the last tile only
the last bands and the copy of the encoded pyramids remain. The frame is the planned region.

The label mosaic holds exactly the cells of the cell table, each pasted whole from the tile
that counted it, numbered ``tile * 10000 + label``; the outline overlay colours their borders
by class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from skimage.segmentation import find_boundaries

from uvscope.analysis.registration import StreamingRegistration
from uvscope.analysis.settings import MosaicSettings
from uvscope.classes import LABEL_STRIDE, class_colour
from uvscope.io.mosaic import (
    GRAY_QUANTUM,
    Layer,
    MosaicGeometry,
    MosaicStream,
    Output,
    layer_stream,
)
from uvscope.io.mosaic_pyramid import ProgressFn, PyramidStream

__all__ = [
    "KINDS",
    "LABEL_STRIDE",
    "AnalysisMosaics",
    "TileSources",
    "outline_overlay",
    "write_analysis_mosaics",
]
KINDS = ("gray", "stained", "labels", "outlines")
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
            class_colour(counted.get(int(u) // LABEL_STRIDE, {}).get(int(u) % LABEL_STRIDE, ""))
            for u in uniq
        ],
        np.uint8,
    )
    out[edge] = colours[inv]
    return out


def mosaic_layers(
    sources: TileSources, counted: Mapping[int, Mapping[int, str]], settings: MosaicSettings
) -> dict[str, Layer]:
    """The layers: gray (clear glass where nothing was imaged), stained (white), labels."""
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
    return {"gray": gray, "stained": stained, "labels": labels}


def mosaic_geometry(
    origins: Mapping[int, np.ndarray],
    tile_shape: tuple[int, int],
    pixel_size_um: float,
    settings: MosaicSettings,
    mosaic_pixel_size_um: float | None,
) -> MosaicGeometry:
    """The frame holding every tile at ``origins``, at the mosaic pixel size:
    ``settings.pixel_size_um`` first, else ``mosaic_pixel_size_um`` (the networks': labels and
    staining are made at that size, a finer mosaic would only repeat pixels), else the tiles'."""
    target = settings.pixel_size_um or mosaic_pixel_size_um or pixel_size_um
    min_scale = max(1, int(round(target / pixel_size_um)))
    return MosaicGeometry.covering(
        origins, tile_shape, pixel_size_um, settings.max_pixels, min_scale
    )


@dataclass
class AnalysisMosaics:
    """The gray, stained, label and outline mosaics of one analysis, rendered as tiles come.

    ``planned`` are the tiles' planned origins (they set the frame and which tiles each band
    waits for); ``registration`` places them (its ``freeze``), or ``origins`` when given (a
    one-shot build at known positions). ``sources`` read a tile's images back when it was not
    added (a resumed scan's earlier tiles; every tile for a one-shot build)."""

    paths: Mapping[str, Path]
    planned: Mapping[int, np.ndarray]
    tile_shape: tuple[int, int]
    pixel_size_um: float
    sources: TileSources
    settings: MosaicSettings = field(default_factory=MosaicSettings)
    stained: bool = True
    mosaic_pixel_size_um: float | None = None
    registration: StreamingRegistration | None = None
    origins: Mapping[int, np.ndarray] | None = None
    progress: ProgressFn | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.counted: dict[int, dict[int, str]] = {}
        self.geometry = mosaic_geometry(
            self.planned, self.tile_shape, self.pixel_size_um, s, self.mosaic_pixel_size_um
        )
        g = self.geometry
        if self.origins is None and self.registration is None:
            raise ValueError("analysis mosaics need a registration or known origins")
        # a registered origin may differ from the plan by the largest accepted correction,
        # twice over across a row of tiles, plus what the stage read back
        margin = 0.0
        if self.origins is None:
            margin = 2 * s.max_shift_um / self.pixel_size_um + 16
        self.layers = mosaic_layers(self.sources, self.counted, s)
        blended = ("gray", "stained") if self.stained else ("gray",)
        self.streams: dict[str, MosaicStream] = {
            kind: layer_stream(
                self.paths[kind],
                g,
                self.planned,
                self.layers[kind],
                NAMES[kind],
                tile=s.tile_size,
                margin_px=margin,
            )
            for kind in blended
        }
        labels = self._pyramid("labels", np.dtype(np.uint32), 1, labels=True)
        outlines = self._pyramid("outlines", np.dtype(np.uint8), 3)
        counted = self.counted

        def outline(rows: np.ndarray, _lo: int) -> np.ndarray:
            return outline_overlay(rows, counted)

        # one label rendering feeds both files; outlines see a row above and below each band,
        # so borders on band edges are found as on the whole image
        self.streams["labels"] = MosaicStream(
            g,
            self.planned,
            self.layers["labels"],
            [Output(labels), Output(outlines, outline, context=1)],
            band_rows=s.tile_size,
            margin_px=margin,
        )
        self._added: set[int] = set()
        self._absent: set[int] = set()
        self._band = 0  # bands whose tiles are placed, top to bottom
        self.closed = False

    def _pyramid(
        self, kind: str, dtype: np.dtype, channels: int, labels: bool = False
    ) -> PyramidStream:
        g = self.geometry
        return PyramidStream(
            self.paths[kind],
            g.shape,
            dtype,
            channels,
            g.mosaic_pixel_size_um,
            meta=g.meta(NAMES[kind]),
            labels=labels,
            tile=self.settings.tile_size,
        )

    # ---------------------------------------------------------------- tiles in
    def add(
        self,
        k: int,
        gray: np.ndarray,
        stained: np.ndarray | None,
        labels: np.ndarray | None,
        counted: Mapping[int, str],
    ) -> int:
        """An analysed tile (its registration must have seen ``gray``); renders every band
        now complete and returns how many were rendered."""
        self._push(k, gray, stained, labels, counted)
        return self._advance()

    def _push(
        self,
        k: int,
        gray: np.ndarray | None,
        stained: np.ndarray | None,
        labels: np.ndarray | None,
        counted: Mapping[int, str],
    ) -> None:
        self.counted[k] = dict(counted)
        self.streams["gray"].push(k, gray)
        if "stained" in self.streams:
            self.streams["stained"].push(k, stained)
        self.streams["labels"].push(k, counted_labels(labels, k, self.counted[k]))
        self._added.add(k)
        if self.origins is not None and k in self.origins:
            self._place({k: self.origins[k]})

    def _place(self, origins: Mapping[int, np.ndarray]) -> None:
        for st in self.streams.values():
            st.place(origins)

    def mark_absent(self, keys: Iterable[int]) -> None:
        """Tiles that will not come (failed analysis, never acquired)."""
        new = set(keys) - self._added
        self._absent |= new
        for st in self.streams.values():
            st.mark_absent(new)
        self._advance()

    def _group(self) -> set[int] | None:
        """The tiles the next band of every layer waits for (None: all bands placed)."""
        st = self.streams["labels"]  # the widest wait: outlines see a row beyond the band
        rows = self.settings.tile_size
        if self._band * rows >= self.geometry.shape[0]:
            return None
        saved = st.next_row
        st.next_row = self._band * rows
        try:
            return st.needs() - self._absent
        finally:
            st.next_row = saved

    def _advance(self, load: bool = False) -> int:
        """Fix the origins band by band as far as the tiles are in (``load``: reading back the
        ones not added) and render each band as soon as it is ready, so tiles read back are
        dropped again as the bands pass them. Returns the bands rendered."""
        n = 0
        while True:
            n += sum(st.render_ready() for st in self.streams.values())
            group = self._group()
            if group is None:
                return n
            missing = group - self._added
            if missing and not load:
                return n
            for k in sorted(missing):
                self._load(k)
            group -= self._absent
            if self.registration is not None and self.origins is None:
                self.registration.freeze(group)  # tiles frozen before keep their origins
                frozen = self.registration.frozen
                self._place({k: frozen[k] for k in group if k in frozen})
            self._band += 1

    def _load(self, k: int) -> None:
        """Read back a tile that was not added (or mark it absent)."""
        gray = self.sources.gray(k)
        if gray is None:
            self.mark_absent([k])
            return
        if self.registration is not None and k not in self.registration.seen:
            self.registration.add(k, gray)
        self._push(
            k, gray, self.sources.stained(k), self.sources.labels(k), self.counted.get(k, {})
        )

    # ---------------------------------------------------------------- end
    def finish(self, counted: Mapping[int, Mapping[int, str]] | None = None) -> MosaicGeometry:
        """Render what is left (tiles never added are read back with ``sources``; planned
        tiles with no image are left out) and close the files."""
        try:
            if counted is not None:
                for k, c in counted.items():
                    self.counted.setdefault(k, dict(c))
            self._advance(load=True)
            for st in self.streams.values():
                st.finish(progress=self.progress)
        except BaseException:
            self.abort()
            raise
        self.closed = True
        return self.geometry

    def abort(self) -> None:
        for st in self.streams.values():
            st.abort()
        self.closed = True

    @property
    def bands_at_finish(self) -> int:
        return max(st.bands_at_finish for st in self.streams.values())

    @property
    def placed(self) -> dict[int, np.ndarray]:
        if self.origins is not None:
            return {k: np.asarray(v, float) for k, v in self.origins.items() if k in self._added}
        assert self.registration is not None
        return {k: v for k, v in self.registration.frozen.items() if k in self._added}


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
    """Write the gray, stained (when ``stained``), label and outline mosaics of tiles at known
    ``origins`` in one go (the same streams, every tile read back by ``sources``)."""
    if not origins:
        raise ValueError("no tiles to stitch")
    m = AnalysisMosaics(
        paths,
        origins,
        tile_shape,
        pixel_size_um,
        sources,
        settings or MosaicSettings(),
        stained=stained,
        mosaic_pixel_size_um=mosaic_pixel_size_um,
        origins=origins,
        progress=progress,
    )
    return m.finish(counted)
