"""The one mosaic builder: tiles placed at pixel origins (stage or registered), linearly blended.

Both rooms use it: the scan's stage mosaics (``write_stage_mosaics``) and the analysis
mosaics (registered placement, gray / stained / labels / outlines). A mosaic is rendered in
horizontal bands, top to bottom; each tile is read once, downsampled, kept only while a band
still crosses it, and every band goes straight into the pyramidal OME-TIFF writer, so memory
is flat in the number of tiles (about one grid row of downsampled tiles plus one band).

Placement: a tile's *origin* is the global pixel (row, col) of its pixel (0, 0) in one grid
of full-resolution tile pixels (``stage_origins`` for stage placement). Blending: each tile
contributes with a weight rising linearly from its edges over ``blend_width_px`` (the
``ramp``), so seams fade out; label layers paste instead (labels must stay labels).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from uvscope.imaging import block_mean, block_pick
from uvscope.io.mosaic_pyramid import ProgressFn, write_pyramid, write_pyramid_bands
from uvscope.io.ome import ImageMeta
from uvscope.io.scanfolder import ScanFolder

BLEND_WIDTH_PX = 64  # full-resolution pixels of the linear blending ramp
STAGE_MAX_PIXELS = 32_000_000  # stage mosaics (a quick look per wavelength) are capped lower
STAGE_MIN_SCALE = 2  # a quick look: every detail stays in the raw tiles beside it
#: gray mosaics hold transmission rounded to 1/16384: 100 x finer than the camera noise of a
#: normalised tile (~1 %), and it lets deflate halve them (float32 noise bits do not compress)
GRAY_QUANTUM = 2.0**-14


def stage_origins(
    positions_mm: Mapping[int, tuple[float, float]], shape: tuple[int, int], px_um: float
) -> dict[int, np.ndarray]:
    """Global pixel origin (row, col) of each tile from its stage centre (x, y) in mm."""
    h, w = shape
    return {
        k: np.array([y * 1e3 / px_um - (h - 1) / 2.0, x * 1e3 / px_um - (w - 1) / 2.0])
        for k, (x, y) in positions_mm.items()
    }


def ramp(n: int, width: int) -> np.ndarray:
    """Linear blending weight along one axis: 1/width at the edges, 1 from ``width`` inwards."""
    i = np.arange(n, dtype=np.float32)
    return np.minimum(np.minimum(i + 1, n - i), float(width)) / float(width)


def blend_window(shape: tuple[int, int], width: int) -> np.ndarray:
    return np.outer(ramp(shape[0], width), ramp(shape[1], width))


@dataclass(frozen=True)
class MosaicGeometry:
    """Where a mosaic lies in the global pixel grid and how much it is downsampled."""

    origin_px: tuple[int, int]  # global full-resolution pixel of mosaic pixel (0, 0)
    scale: int  # tile pixels per mosaic pixel
    shape: tuple[int, int]  # mosaic (rows, cols)
    tile_shape: tuple[int, int]  # source tiles, full resolution
    pixel_size_um: float  # of the source tiles

    @classmethod
    def covering(
        cls,
        origins: Mapping[int, np.ndarray],
        tile_shape: tuple[int, int],
        pixel_size_um: float,
        max_pixels: int,
        min_scale: int = 1,
    ) -> MosaicGeometry:
        """The smallest mosaic holding every tile, downsampled by at least ``min_scale`` and
        until it has <= max_pixels."""
        o = np.array([np.round(v) for v in origins.values()], np.int64).reshape(-1, 2)
        lo = o.min(axis=0)
        full = o.max(axis=0) - lo + np.array(tile_shape)
        scale = max(1, min_scale, math.ceil(math.sqrt(full[0] * full[1] / max_pixels)))
        while (full[0] // scale) * (full[1] // scale) > max_pixels:
            scale += 1
        shape = (int(-(-full[0] // scale)), int(-(-full[1] // scale)))
        return cls((int(lo[0]), int(lo[1])), scale, shape, tile_shape, pixel_size_um)

    @property
    def mosaic_pixel_size_um(self) -> float:
        return self.pixel_size_um * self.scale

    @property
    def small_tile_shape(self) -> tuple[int, int]:
        return self.tile_shape[0] // self.scale, self.tile_shape[1] // self.scale

    def place(self, origin: np.ndarray) -> tuple[int, int]:
        """Top-left mosaic pixel (row, col) of a tile with this global origin."""
        r = int(round((float(origin[0]) - self.origin_px[0]) / self.scale))
        c = int(round((float(origin[1]) - self.origin_px[1]) / self.scale))
        return r, c

    def centre_mm(self) -> tuple[float, float]:
        """Stage (x, y) of the mosaic's centre (the image-centre convention of tiles)."""
        row = self.origin_px[0] + (self.shape[0] * self.scale - 1) / 2.0
        col = self.origin_px[1] + (self.shape[1] * self.scale - 1) / 2.0
        return col * self.pixel_size_um * 1e-3, row * self.pixel_size_um * 1e-3

    def meta(self, name: str, wavelength_nm: int | None = None) -> ImageMeta:
        x, y = self.centre_mm()
        return ImageMeta(self.mosaic_pixel_size_um, wavelength_nm, None, x, y, None, name)


@dataclass(frozen=True)
class Layer:
    """One mosaic image: how to load a tile's contribution and how to combine them.

    ``mode="mean"`` blends (intensity, RGB); ``mode="paste"`` copies non-zero pixels, later
    tiles on top (labels). ``load`` returns the full-resolution tile, or None to skip it.
    """

    load: Callable[[int], np.ndarray | None]
    dtype: np.dtype
    channels: int = 1
    mode: Literal["mean", "paste"] = "mean"
    fill: float = 0.0  # value where no tile lies
    blend_width_px: int = BLEND_WIDTH_PX
    quantum: float | None = None  # float layers: round the blend to multiples of this


class BandAccumulator:
    """The one blender: accumulates downsampled tiles into rows [r0, r0 + rows) of a mosaic."""

    def __init__(self, r0: int, rows: int, cols: int, layer: Layer, scale: int) -> None:
        self.r0, self.rows, self.cols, self.layer = r0, rows, cols, layer
        self._width = max(layer.blend_width_px // scale, 1)
        shape = (rows, cols) if layer.channels == 1 else (rows, cols, layer.channels)
        if layer.mode == "mean":
            self.acc = np.zeros(shape, np.float32)
            self.wsum = np.zeros((rows, cols), np.float32)
        else:
            self.acc = np.zeros(shape, layer.dtype)
        self._windows: dict[tuple[int, int], np.ndarray] = {}

    def add(self, small: np.ndarray, top: int, left: int) -> None:
        """Add a downsampled tile whose pixel (0, 0) is at mosaic pixel (top, left)."""
        h, w = small.shape[:2]
        rs, cs = max(top, self.r0), max(left, 0)
        re, ce = min(top + h, self.r0 + self.rows), min(left + w, self.cols)
        if re <= rs or ce <= cs:
            return
        sub = small[rs - top : re - top, cs - left : ce - left]
        dst = (slice(rs - self.r0, re - self.r0), slice(cs, ce))
        if self.layer.mode == "paste":
            mask = sub != 0 if sub.ndim == 2 else np.any(sub != 0, axis=-1)
            self.acc[dst][mask] = sub[mask]
            return
        if (h, w) not in self._windows:
            self._windows[(h, w)] = blend_window((h, w), self._width)
        win = self._windows[(h, w)][rs - top : re - top, cs - left : ce - left]
        self.acc[dst] += sub * (win if sub.ndim == 2 else win[..., None])
        self.wsum[dst] += win

    def result(self) -> np.ndarray:
        if self.layer.mode == "paste":
            return self.acc
        covered = self.wsum > 0
        out = self.acc
        if out.ndim == 2:
            out[covered] /= self.wsum[covered]
        else:
            out[covered] /= self.wsum[covered][:, None]
        out[~covered] = self.layer.fill
        if np.issubdtype(self.layer.dtype, np.integer):
            info = np.iinfo(self.layer.dtype)
            rounded: np.ndarray = np.clip(out + 0.5, info.min, info.max).astype(self.layer.dtype)
            return rounded
        if self.layer.quantum is not None:
            q = np.float32(self.layer.quantum)
            out = np.round(out / q) * q
        return out.astype(self.layer.dtype, copy=False)


def downsample_tile(img: np.ndarray, layer: Layer, scale: int) -> np.ndarray:
    """A tile at mosaic resolution: block mean (kept in the tile's dtype) or picked labels."""
    if scale == 1:
        return img
    if layer.mode == "paste":
        return block_pick(img, scale)
    small = block_mean(img, scale)
    if np.issubdtype(img.dtype, np.integer):
        return np.round(small).astype(img.dtype)
    return small


@dataclass
class BandRenderer:
    """Renders a layer band by band, top to bottom, reading each tile once.

    A tile is loaded when the first band reaching it is rendered and dropped once a band
    starts below it, so at most the tiles crossing one band are held.
    """

    geometry: MosaicGeometry
    placements: Mapping[int, tuple[int, int]]  # tile -> top-left mosaic pixel
    layer: Layer
    _order: list[int] = field(init=False)
    _next: int = field(init=False, default=0)
    _cache: dict[int, np.ndarray | None] = field(init=False, default_factory=dict)
    loaded: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._order = sorted(self.placements, key=lambda k: (self.placements[k][0], k))

    def render(self, r0: int, r1: int) -> np.ndarray:
        """Rows [r0, r1) of the mosaic; calls must not move upwards past a dropped tile."""
        g, th = self.geometry, self.geometry.small_tile_shape[0]
        for k in [k for k in self._cache if self.placements[k][0] + th <= r0]:
            del self._cache[k]
        while self._next < len(self._order):
            k = self._order[self._next]
            if self.placements[k][0] >= r1:
                break
            if self.placements[k][0] + th > r0:
                img = self.layer.load(k)
                self.loaded += 1
                self._cache[k] = None if img is None else downsample_tile(img, self.layer, g.scale)
            self._next += 1
        acc = BandAccumulator(r0, r1 - r0, g.shape[1], self.layer, g.scale)
        for k in sorted(self._cache):  # index order: later tiles paste on top
            small = self._cache[k]
            if small is not None:
                acc.add(small, *self.placements[k])
        return acc.result()


def render_layer(
    path: str | Path,
    geometry: MosaicGeometry,
    origins: Mapping[int, np.ndarray],
    layer: Layer,
    name: str,
    *,
    wavelength_nm: int | None = None,
    tile: int = 256,
    band_transform: Callable[[Callable[[int, int], np.ndarray]], Callable[[int, int], np.ndarray]]
    | None = None,
    out_dtype: np.dtype | None = None,
    out_channels: int | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """Render one layer of the mosaic straight into a pyramidal OME-TIFF at ``path``.

    ``band_transform`` turns the layer's band function into another (the class outlines are
    computed from the label bands that way), with ``out_dtype`` and ``out_channels``."""
    placements = {k: geometry.place(v) for k, v in origins.items()}
    renderer = BandRenderer(geometry, placements, layer)
    band = renderer.render if band_transform is None else band_transform(renderer.render)
    return write_pyramid_bands(
        path,
        geometry.shape,
        out_dtype if out_dtype is not None else layer.dtype,
        out_channels if out_channels is not None else layer.channels,
        band,
        geometry.mosaic_pixel_size_um,
        meta=geometry.meta(name, wavelength_nm),
        labels=layer.mode == "paste",
        tile=tile,
        progress=progress,
    )


def blend_tiles(
    tiles: Iterable[tuple[np.ndarray, float, float]],
    bounds_mm: tuple[float, float, float, float],
    pixel_size_um: float,
    downsample: int = 1,
    channels: int = 1,
) -> np.ndarray:
    """Blend (image, x_mm, y_mm) tiles in memory into one image covering ``bounds_mm``.

    For small mosaics (training pairs, tests); whole scans go through ``render_layer``. The
    same blender and placement as there; the full-tile ramp feathers the whole overlap."""
    px = pixel_size_um * downsample
    x0, y0, x1, y1 = bounds_mm
    width = int(math.ceil((x1 - x0) * 1000 / px)) + 1
    height = int(math.ceil((y1 - y0) * 1000 / px)) + 1
    acc: BandAccumulator | None = None
    for image, x_mm, y_mm in tiles:
        if acc is None:
            wide = max(image.shape[:2])  # ramp over the whole tile: a feathered blend
            layer = Layer(lambda k: None, np.dtype(np.float32), channels, blend_width_px=wide)
            acc = BandAccumulator(0, height, width, layer, downsample)
        h, w = image.shape[:2]
        origin = stage_origins({0: (x_mm, y_mm)}, (h, w), pixel_size_um)[0]
        top = int(round((origin[0] - y0 * 1e3 / pixel_size_um) / downsample))
        left = int(round((origin[1] - x0 * 1e3 / pixel_size_um) / downsample))
        acc.add(block_mean(image, downsample), top, left)
    if acc is None:
        shape = (height, width) if channels == 1 else (height, width, channels)
        return np.zeros(shape, np.float32)
    return acc.result()


def choose_downsample(
    bounds_mm: tuple[float, float, float, float], pixel_size_um: float, max_pixels: int
) -> int:
    x0, y0, x1, y1 = bounds_mm
    n = (x1 - x0) * (y1 - y0) * 1e6 / pixel_size_um**2
    return max(1, int(math.ceil(math.sqrt(n / max_pixels))))


def _normalised(folder: ScanFolder, nm: int, index: int) -> np.ndarray:
    return folder.read_tile(index, nm)[0]


def write_stage_mosaics(
    folder: ScanFolder,
    max_pixels: int = STAGE_MAX_PIXELS,
    progress: ProgressFn | None = None,
    min_scale: int = STAGE_MIN_SCALE,
) -> list[str]:
    """One mosaic per wavelength of the finished tiles, placed by their stage positions (a
    quick look: at least ``min_scale`` x downsampled, gray rounded to ``GRAY_QUANTUM``)."""
    manifest = folder.read_manifest()
    plan = manifest["plan"]
    px = float(plan["pixel_size_um"])
    records = folder.verified_tiles()
    if not records:
        return []
    first = min(records)
    shape = folder.read_tile(first, records[first].wavelengths[0])[0].shape[:2]
    written: list[str] = []
    geometry: MosaicGeometry | None = None
    for nm in plan["wavelengths"]:
        keys = {k: r for k, r in records.items() if nm in r.wavelengths}
        if not keys:
            continue
        origins = stage_origins({k: (r.x_mm, r.y_mm) for k, r in keys.items()}, shape, px)
        geometry = MosaicGeometry.covering(origins, shape, px, max_pixels, min_scale)
        layer = Layer(partial(_normalised, folder, nm), np.dtype(np.float32), quantum=GRAY_QUANTUM)
        path = folder.mosaic_path(nm)
        render_layer(
            path,
            geometry,
            origins,
            layer,
            f"mosaic {nm} nm (stage positions, downsample {geometry.scale})",
            wavelength_nm=nm,
            progress=progress,
        )
        written.append(path.relative_to(folder.root).as_posix())
    scale = geometry.scale if geometry is not None else 1
    folder.update_manifest(mosaic={"downsample": scale, "files": written, "placement": "stage"})
    return written


__all__ = [
    "BLEND_WIDTH_PX",
    "GRAY_QUANTUM",
    "BandAccumulator",
    "BandRenderer",
    "Layer",
    "MosaicGeometry",
    "blend_tiles",
    "blend_window",
    "choose_downsample",
    "ramp",
    "render_layer",
    "stage_origins",
    "write_pyramid",
    "write_stage_mosaics",
]
