"""The one mosaic builder: tiles placed at pixel origins (stage or registered), linearly blended.

Both rooms use it: the scan's stage mosaics (``StageMosaics``, ``write_stage_mosaics``) and
the analysis mosaics (registered placement, gray / stained / labels / outlines). A mosaic is
rendered in horizontal bands, top to bottom, by a ``MosaicStream``: tiles are pushed as they
are written or analysed (or read back, for a one-shot build), downsampled, kept only while a
band can still reach them, and each band is blended and encoded into its pyramidal OME-TIFF
(``PyramidStream``) as soon as every tile that can reach it is in. The tiles waiting (one to
two grid rows of them) are kept compressed (``PackedTile``), in memory up to a budget and on
disk beyond it (``ChunkSpool``), so memory is flat in the number of tiles; only the band being
rendered grows with the region's width. At the end of a scan only the last bands and the copy
of the encoded pyramid remain.

Placement: a tile's *origin* is the global pixel (row, col) of its pixel (0, 0) in one grid
of full-resolution tile pixels (``stage_origins`` for stage placement). The frame is set by
the planned origins (known before the first tile). Blending: each tile contributes with a
weight rising linearly from its edges over ``blend_width_px`` (the ``ramp``), so seams fade
out; label layers paste instead (labels must stay labels).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from uvscope.errors import UvscopeError
from uvscope.imaging import block_mean, block_pick
from uvscope.io.mosaic_pyramid import ProgressFn, PyramidStream, write_pyramid
from uvscope.io.ome import ImageMeta
from uvscope.io.packed import SPOOL_BUDGET_BYTES, ChunkSpool, PackedTile
from uvscope.io.plan_record import PlanRecord
from uvscope.io.scanfolder import ScanFolder

BLEND_WIDTH_PX = 64  # full-resolution pixels of the linear blending ramp
STAGE_MAX_PIXELS = 32_000_000  # stage mosaics (a quick look per wavelength) are capped lower
STAGE_MIN_SCALE = 2  # a quick look: every detail stays in the raw tiles beside it
RENDER_ROWS = 64  # mosaic rows blended at a time
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

    def add(self, small: np.ndarray | PackedTile, top: int, left: int) -> None:
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
    if layer.mode == "paste":  # a copy: the picked view would keep the whole tile alive
        return np.ascontiguousarray(block_pick(img, scale))
    small = block_mean(img, scale)
    if np.issubdtype(img.dtype, np.integer):
        return np.round(small).astype(img.dtype)
    return small


@dataclass
class Output:
    """One file a mosaic stream writes: the rendered rows, or ``transform`` of them (given
    ``context`` rows of the rendering above and below each band, e.g. outlines of labels)."""

    stream: PyramidStream
    transform: Callable[[np.ndarray, int], np.ndarray] | None = None  # (rows, first row) -> rows
    context: int = 0


#: what a loader returns for a tile the stream did not get pushed: its full-resolution image
#: (None: nothing to draw) and its global origin, or None when the tile does not exist
Loaded = tuple[np.ndarray | None, np.ndarray] | None


class MosaicStream:
    """A mosaic layer rendered while its tiles arrive, band by band, into pyramidal OME-TIFFs.

    The frame (``geometry``) and the *planned* origins are known before the first tile; a
    band of ``band_rows`` mosaic rows is final as soon as every tile whose planned placement
    (give or take ``margin_px``) reaches it has arrived with its actual origin (``push``,
    ``place``) or is known to be absent. It is then blended (tiles added in index order, as
    the one-shot build does), written to each output's ``PyramidStream`` and the tiles that
    cannot reach a later band are dropped. ``finish`` renders what is left, loading the tiles
    never pushed (a resumed scan's earlier tiles; every tile for a one-shot build) and closes
    the files: after the last tile only the last band(s) and the copy of the encoded
    pyramids remain. A tile placed beyond its margin is drawn only in bands not yet written
    (``outside`` lists such tiles; the stage and the registration keep well inside it).
    """

    def __init__(
        self,
        geometry: MosaicGeometry,
        planned: Mapping[int, np.ndarray],
        layer: Layer,
        outputs: Sequence[Output],
        *,
        band_rows: int = 256,
        margin_px: float = 0.0,
        spool_budget_bytes: int = SPOOL_BUDGET_BYTES,
    ) -> None:
        self.geometry, self.layer, self.outputs = geometry, layer, list(outputs)
        self.band_rows = band_rows
        self._th = geometry.small_tile_shape[0]
        self._m = int(math.ceil(margin_px / geometry.scale))
        self._pad = max((o.context for o in self.outputs), default=0)
        self._planned = {k: geometry.place(v)[0] for k, v in planned.items()}
        self._small: dict[int, PackedTile | None] = {}  # compressed while bands wait
        self._arrived: set[int] = set()
        self._top: dict[int, tuple[int, int]] = {}
        self._absent: set[int] = set()
        self.next_row = 0
        self.bands_rendered = 0
        self.bands_at_finish = 0  # bands rendered by ``finish`` (after the last tile)
        self.loaded_at_finish = 0  # tiles ``finish`` had to read back
        self.outside: list[int] = []
        folder = self.outputs[0].stream.path.parent if self.outputs else Path(tempfile.gettempdir())
        self.spool = ChunkSpool(spool_budget_bytes, folder)  # waiting tiles beyond the budget

    # ---------------------------------------------------------------- tiles in
    def push(self, k: int, image: np.ndarray | None, origin: np.ndarray | None = None) -> None:
        """Tile ``k``'s full-resolution image (None: it has nothing for this layer) and, when
        already known, its global origin (else ``place`` gives it later)."""
        self._small[k] = (
            None
            if image is None
            else PackedTile(downsample_tile(image, self.layer, self.geometry.scale), self.spool)
        )
        self._arrived.add(k)
        if origin is not None:
            self.place({k: origin})

    def place(self, origins: Mapping[int, np.ndarray]) -> None:
        for k, o in origins.items():
            top = self.geometry.place(o)
            self._top[k] = top
            planned = self._planned.get(k)
            if planned is None or abs(top[0] - planned) > self._m:
                self.outside.append(k)

    def mark_absent(self, keys: Iterable[int]) -> None:
        """Tiles that will not come (failed, never acquired)."""
        self._absent.update(k for k in keys if k not in self._arrived)

    # ---------------------------------------------------------------- bands
    @property
    def done(self) -> bool:
        return self.next_row >= self.geometry.shape[0]

    def _band(self) -> tuple[int, int, int, int]:
        r0 = self.next_row
        r1 = min(r0 + self.band_rows, self.geometry.shape[0])
        return r0, r1, max(r0 - self._pad, 0), min(r1 + self._pad, self.geometry.shape[0])

    def needs(self) -> set[int]:
        """The tiles the next band waits for (planned placement within the margin)."""
        if self.done:
            return set()
        _, _, lo, hi = self._band()
        m, th = self._m, self._th
        return {k for k, t in self._planned.items() if t - m < hi and t + th + m > lo}

    def waiting_for(self) -> set[int]:
        """Tiles of the next band neither in (with an origin) nor absent."""
        return {
            k
            for k in self.needs()
            if k not in self._absent and not (k in self._arrived and k in self._top)
        }

    def render_ready(self) -> int:
        """Render every band whose tiles are all in; returns how many were rendered."""
        n = 0
        while not self.done and not self.waiting_for():
            self._render_next()
            n += 1
        return n

    def _render_next(self) -> None:
        g = self.geometry
        r0, r1, lo, hi = self._band()
        # blended in slices of rows (each pixel's sums are the same whatever the slicing):
        # the float accumulators of a whole band of a wide mosaic would be hundreds of MB
        parts = []
        for s0 in range(lo, hi, RENDER_ROWS):
            s1 = min(s0 + RENDER_ROWS, hi)
            acc = BandAccumulator(s0, s1 - s0, g.shape[1], self.layer, g.scale)
            for k in sorted(self._small):  # index order: later tiles paste on top
                small = self._small[k]
                if small is not None and k in self._top:
                    acc.add(small, *self._top[k])
            parts.append(acc.result())
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
        del parts
        for out in self.outputs:
            data = rows if out.transform is None else out.transform(rows, lo)
            out.stream.add(data[r0 - lo : r1 - lo])
        self.next_row = r1
        self.bands_rendered += 1
        nxt = r1 - self._pad  # the first row a later band can still need
        for k in [k for k in self._small if self._gone(k, nxt)]:
            self._drop(k)

    def _drop(self, k: int) -> None:
        packed = self._small.pop(k)
        if packed is not None:
            packed.release()

    def _gone(self, k: int, row: int) -> bool:
        planned = self._planned.get(k)
        top = self._top.get(k, (planned if planned is not None else 0, 0))[0]
        last = max(top, planned + self._m if planned is not None else top) + self._th
        return last <= row

    # ---------------------------------------------------------------- end
    def finish(
        self, load: Callable[[int], Loaded] | None = None, progress: ProgressFn | None = None
    ) -> list[Path]:
        """Render the remaining bands (``load`` reads a tile that was never pushed; without
        it, such tiles are absent) and close the files. ``progress`` hears (name, done,
        total) in steps: each band left, then writing the files."""
        what = self.outputs[0].stream.what if self.outputs else "mosaic"
        total = -(-(self.geometry.shape[0] - self.next_row) // self.band_rows) + 1
        step = 0
        try:
            while not self.done:
                for k in sorted(self.waiting_for()):
                    if k in self._arrived:  # in without an origin: nothing places it now
                        self._absent.add(k)
                        continue
                    got = load(k) if load is not None else None
                    if got is None:
                        self._absent.add(k)
                        continue
                    self.loaded_at_finish += 1
                    self.push(k, got[0], got[1])
                self._render_next()
                self.bands_at_finish += 1
                step += 1
                if progress is not None:
                    progress(what, step, total)
            paths = [out.stream.close() for out in self.outputs]
            self.spool.close()
            if progress is not None:
                progress(what, total, total)
            return paths
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        for out in self.outputs:
            out.stream.abort()
        self.spool.close()


def layer_stream(
    path: str | Path,
    geometry: MosaicGeometry,
    planned: Mapping[int, np.ndarray],
    layer: Layer,
    name: str,
    *,
    wavelength_nm: int | None = None,
    tile: int = 256,
    margin_px: float = 0.0,
) -> MosaicStream:
    """A stream writing one layer as it is into one pyramidal OME-TIFF at ``path``."""
    out = PyramidStream(
        path,
        geometry.shape,
        layer.dtype,
        layer.channels,
        geometry.mosaic_pixel_size_um,
        meta=geometry.meta(name, wavelength_nm),
        labels=layer.mode == "paste",
        tile=tile,
    )
    return MosaicStream(
        geometry, planned, layer, [Output(out)], band_rows=tile, margin_px=margin_px
    )


def render_layer(
    path: str | Path,
    geometry: MosaicGeometry,
    origins: Mapping[int, np.ndarray],
    layer: Layer,
    name: str,
    *,
    wavelength_nm: int | None = None,
    tile: int = 256,
    progress: ProgressFn | None = None,
) -> Path:
    """Render one layer in one go from its tiles at ``origins`` (each read once, by
    ``layer.load``, when the first band reaching it is rendered): the same stream as during a
    scan, with no tile pushed."""
    stream = layer_stream(
        path, geometry, origins, layer, name, wavelength_nm=wavelength_nm, tile=tile
    )
    stream.finish(lambda k: (layer.load(k), origins[k]), progress)
    return Path(path)


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


def _stage_layer(load: Callable[[int], np.ndarray | None]) -> Layer:
    return Layer(load, np.dtype(np.float32), quantum=GRAY_QUANTUM)


def _stage_name(nm: int, scale: int) -> str:
    return f"mosaic {nm} nm (stage positions, downsample {scale})"


def _stage_margin_px(px_um: float) -> float:
    """How far a tile's read-back position may lie from the plan and still be drawn in full
    (10 um: stage repeatability is a few um)."""
    return 10.0 / px_um


class StageMosaics:
    """The scan's stage mosaics, one per wavelength, rendered while the tiles are written.

    ``uvscope.io.stage_sink.StageMosaicSink`` pushes each saved tile here (from the writer
    thread); the frame comes from the plan in the manifest, so bands finish as the scan moves
    on and ``write_stage_mosaics`` at the end has only the last bands and the file copies left.
    """

    def __init__(
        self, folder: ScanFolder, plan: PlanRecord, shape: tuple[int, int], max_pixels: int
    ) -> None:
        self.folder = folder
        self.px = plan.pixel_size_um
        self.shape = shape
        self.planned = stage_origins(plan.centres_mm(), shape, self.px)
        self.geometry = MosaicGeometry.covering(
            self.planned, shape, self.px, max_pixels, STAGE_MIN_SCALE
        )
        self.streams: dict[int, MosaicStream] = {}

    @classmethod
    def for_folder(
        cls, folder: ScanFolder, shape: tuple[int, int], max_pixels: int = STAGE_MAX_PIXELS
    ) -> StageMosaics | None:
        """From the folder's manifest plan, or None where it has none (then the mosaics are
        built in one go at the end)."""
        try:
            plan = folder.plan()
            if not plan.positions:
                return None
            return cls(folder, plan, shape, max_pixels)
        except (TypeError, ValueError, UvscopeError):
            return None

    def stream(self, nm: int) -> MosaicStream:
        if nm not in self.streams:
            self.streams[nm] = layer_stream(
                self.folder.mosaic_path(nm),
                self.geometry,
                self.planned,
                _stage_layer(partial(_normalised, self.folder, nm)),
                _stage_name(nm, self.geometry.scale),
                wavelength_nm=nm,
                margin_px=_stage_margin_px(self.px),
            )
        return self.streams[nm]

    def push(self, index: int, nm: int, image: np.ndarray, x_mm: float, y_mm: float) -> None:
        if image.shape[:2] != self.shape or index not in self.planned:
            return
        st = self.stream(nm)
        st.push(index, image, stage_origins({index: (x_mm, y_mm)}, self.shape, self.px)[index])
        st.render_ready()

    def abort(self) -> None:
        for st in self.streams.values():
            st.abort()
        self.streams = {}


def _normalised(folder: ScanFolder, nm: int, index: int) -> np.ndarray:
    return folder.read_tile(index, nm)[0]


def _stage_loaded(
    folder: ScanFolder, nm: int, origins: Mapping[int, np.ndarray], index: int
) -> Loaded:
    """A tile the stage mosaic stream did not get, read back (None: not a finished tile)."""
    if index not in origins:
        return None
    return _normalised(folder, nm, index), origins[index]


def write_stage_mosaics(
    folder: ScanFolder,
    max_pixels: int = STAGE_MAX_PIXELS,
    progress: ProgressFn | None = None,
    min_scale: int = STAGE_MIN_SCALE,
    live: StageMosaics | None = None,
) -> list[str]:
    """One mosaic per wavelength of the finished tiles, placed by their stage positions (a
    quick look: at least ``min_scale`` x downsampled, gray rounded to ``GRAY_QUANTUM``).

    Finishes ``live``, the mosaics drawn during the scan (``uvscope.io.stage_sink``: tiles
    it never got, e.g. a resumed scan's earlier ones, are read back); without, renders them.
    The frame is the planned region (a scan stopped early leaves the rest glass-empty)."""
    from uvscope.io.progress import end_products_reporter

    progress = progress or end_products_reporter(folder.root)
    plan = folder.plan()
    px = plan.pixel_size_um
    records = folder.verified_tiles()
    if not records:
        if live is not None:
            live.abort()
        return []
    first = min(records)
    shape = folder.read_tile(first, records[first].wavelengths[0])[0].shape[:2]
    stages = live
    if stages is None or stages.shape != shape or min_scale != STAGE_MIN_SCALE:
        if live is not None:
            live.abort()
        stages = StageMosaics.for_folder(folder, shape, max_pixels)
    written: list[str] = []
    scale = 1
    for nm in plan.wavelengths:
        keys = {k: r for k, r in records.items() if nm in r.wavelengths}
        if not keys:
            if stages is not None and nm in stages.streams:
                stages.streams.pop(nm).abort()
            continue
        origins = stage_origins({k: (r.x_mm, r.y_mm) for k, r in keys.items()}, shape, px)
        path = folder.mosaic_path(nm)
        if stages is not None:
            st = stages.stream(nm)
            st.mark_absent(set(stages.planned) - set(keys))
            st.finish(partial(_stage_loaded, folder, nm, origins), progress)
            scale = stages.geometry.scale
        else:  # no plan positions to frame it: the covering of the finished tiles
            geometry = MosaicGeometry.covering(origins, shape, px, max_pixels, min_scale)
            layer = _stage_layer(partial(_normalised, folder, nm))
            name = _stage_name(nm, geometry.scale)
            render_layer(path, geometry, origins, layer, name, wavelength_nm=nm, progress=progress)
            scale = geometry.scale
        written.append(path.relative_to(folder.root).as_posix())
    folder.update_manifest(mosaic={"downsample": scale, "files": written, "placement": "stage"})
    return written


__all__ = [
    "BLEND_WIDTH_PX",
    "GRAY_QUANTUM",
    "BandAccumulator",
    "Layer",
    "MosaicGeometry",
    "MosaicStream",
    "Output",
    "StageMosaics",
    "blend_tiles",
    "blend_window",
    "choose_downsample",
    "ramp",
    "layer_stream",
    "render_layer",
    "stage_origins",
    "write_pyramid",
    "write_stage_mosaics",
]
