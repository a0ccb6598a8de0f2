"""The per-tile pipeline: preprocess, segment, post-process, classify, stain, describe cells.

``TilePipeline.analyse`` takes a batch of tiles and returns one ``TileResult`` each. Every
computation is per tile or per patch, so a tile's result does not depend on which other tiles
shared its batch: the on-the-fly run and ``uvscope analyze`` give the same cells.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops

from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.analysis.cells import (
    WAVELENGTH_COLUMNS,
    CellRecord,
    decide,
    preclass_probabilities,
)
from uvscope.analysis.dedup import CoreRegions, touched_sides
from uvscope.analysis.inference import (
    binning_factor,
    model_shape,
    predict_blended,
    resample,
    to_model_pixels,
)
from uvscope.analysis.models import ModelSet
from uvscope.analysis.postprocess import Instances, instances
from uvscope.analysis.settings import CLASSES, AnalysisSettings, InferenceSettings
from uvscope.analysis.smear import SmearAnalyser, SmearTile
from uvscope.errors import AnalysisError
from uvscope.geometry import pixel_to_stage_mm
from uvscope.models.preprocess import bin2x2, composite_crop, contrast_stretch


@dataclass
class TileResult:
    """What the analysis made of one tile (a failed tile has ``failed`` and ``error`` set)."""

    index: int
    spec: TileSpec
    x_mm: float
    y_mm: float
    shape: tuple[int, int]
    pixel_size_um: float
    cells: list[CellRecord] = field(default_factory=list)
    labels: np.ndarray | None = None  # int32 cell instances
    nuclei: np.ndarray | None = None  # int32, nucleus pixels carry their cell's label
    stained: np.ndarray | None = None  # uint8 (H, W, 3)
    gray: np.ndarray | None = None  # the normalised tile the networks read (float32)
    removed: dict[str, int] = field(default_factory=dict)
    failed: bool = False
    error: str | None = None
    seconds: float = 0.0
    #: the scan flagged the tile out of focus: analysed for the mosaic, its cells not counted
    out_of_focus: bool = False
    #: red cells and platelets of the tile (None when ``cbc.enabled`` is off)
    smear: SmearTile | None = None

    @property
    def counted(self) -> list[CellRecord]:
        return [c for c in self.cells if c.counted]

    @property
    def cells_out_of_focus(self) -> int:
        """Cells this tile would have counted had the scan not flagged it out of focus."""
        return sum(c.excluded_out_of_focus for c in self.cells)


def is_out_of_focus(tile: Tile) -> bool:
    """Whether the scan's focus check flagged the tile (``tile.focus.out_of_focus``)."""
    return bool(tile.focus.out_of_focus)


def tile_percentiles(shape: tuple[int, int], inf: InferenceSettings) -> tuple[float, float]:
    """Stretch percentiles of a whole tile that saturate as many pixels as in a training field.

    The networks were trained on fields centred on a WBC, where the darkest 0.5 % is nucleus;
    in a whole tile 0.5 % is mostly overlapping red cells and debris, which the stretch would
    then darken into nucleus-like blobs (false positives).
    """
    ref = inf.stretch_reference_px
    n = shape[0] * shape[1]
    if ref is None or n <= ref:
        return inf.low_pct, inf.high_pct
    f = ref / n
    return inf.low_pct * f, 100.0 - (100.0 - inf.high_pct) * f


def primary_image(tile: Tile, nm: int) -> np.ndarray:
    """The tile at the analysis wavelength (normalised, float32)."""
    if nm in tile.normalised:
        return np.asarray(tile.normalised[nm], dtype=np.float32)
    raise AnalysisError(
        f"tile {tile.index} has no {nm} nm image (has {sorted(tile.normalised)}); "
        "scan at that wavelength or set inference.wavelength_nm"
    )


@dataclass
class NetworkOutputs:
    """One batch between ``TilePipeline.infer`` and ``TilePipeline.finish``."""

    tiles: list[Tile]
    grays: list[np.ndarray]
    probs: list[tuple[np.ndarray, np.ndarray]]
    stained: list[np.ndarray | None]
    px: float
    started_s: float


class StageTimer:
    """Wall seconds per pipeline stage, summed over batches (nested stages are counted in
    their parent too: "networks" holds "segment network" and "stain network")."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.tiles = 0
        self._lock = threading.Lock()  # infer and finish may run on different threads

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def per_tile(self) -> dict[str, float]:
        return {k: v / max(self.tiles, 1) for k, v in self.seconds.items()}


def _to_uint8_rgb(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A stainer's RGB 0..1 at model pixels -> uint8 RGB at the tile's shape."""
    out: np.ndarray = (np.clip(resample(rgb, shape), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return out


def apply_engine(models: ModelSet, engine: str) -> dict[str, str]:
    """Ask each network that can (the models room's predictors) to run in ``engine``; returns
    the engine each one actually uses (a missing runtime falls back to torch with a warning).
    Networks without ``use_engine`` (test fakes, other backends) are left as they are."""
    used: dict[str, str] = {}
    for name in ("segmenter", "stainer", "classifier"):
        use = getattr(getattr(models, name, None), "use_engine", None)
        if callable(use):
            used[name] = str(use(engine))
    return used


class TilePipeline:
    """Segmentation, classification and staining of batches of tiles with one set of networks."""

    def __init__(
        self,
        models: ModelSet,
        settings: AnalysisSettings | None = None,
        cores: CoreRegions | None = None,
        smear: SmearAnalyser | None = None,
    ) -> None:
        """``smear`` analyses red cells and platelets (default: the settings' ``cbc`` with the
        default rig's haemoglobin constants; none when ``cbc.enabled`` is off)."""
        self.models = models
        self.settings = settings or AnalysisSettings()
        self.cores = cores
        if smear is None and self.settings.cbc.enabled:
            smear = SmearAnalyser(
                self.settings.cbc, analysis_nm=self.settings.inference.wavelength_nm
            )
        self.smear = smear
        #: the inference engine each network runs in (``inference.engine``; see apply_engine)
        self.engines = apply_engine(models, self.settings.inference.engine)
        #: seconds spent per stage since it was created (benchmarks read it)
        self.timer = StageTimer()
        # (input list, (pixel size, model pixel size), resampled): shared by segment and stain
        self._resampled: tuple[list[np.ndarray], tuple[float, float], list[np.ndarray]] | None = (
            None
        )

    # ---------------------------------------------------------------- stages
    def _to_model(self, grays: list[np.ndarray], px: float, model_px: float) -> list[np.ndarray]:
        """The network inputs: each tile binned to the model's pixel size, then contrast-
        stretched, in the order the training tiles were made. Computed once per batch and pixel
        size, so segmentation and staining (both 0.32 um) share them."""
        c = self._resampled
        if c is None or c[0] is not grays or c[1] != (px, model_px):
            inf = self.settings.inference
            out = [
                contrast_stretch(to_model_pixels(g, px, model_px), *tile_percentiles(g.shape, inf))
                for g in grays
            ]
            self._resampled = c = (grays, (px, model_px), out)
        return c[2]

    def _call_batch(self) -> int:
        """Inputs per network call: ``patch_batch`` patches, or one whole tile (a batch of
        whole tiles multiplies the activations' memory, ~0.3 GB a tile for the small
        U-Nets, for no measurable speed on CPU)."""
        inf = self.settings.inference
        return 1 if inf.tiling == "whole" else inf.patch_batch

    def _patch_px(self, model: Any) -> int | None:
        """The patch ``model`` runs on, or None for whole tiles (``inference.tiling``)."""
        return None if self.settings.inference.tiling == "whole" else model.patch_size

    def _predict_tiles(self, model: Any, grays: list[np.ndarray], px: float) -> list[Any]:
        """A tile-to-tile network over whole tiles at its pixel size, patches blended."""
        inf = self.settings.inference
        return predict_blended(
            self._to_model(grays, px, model.pixel_size_um),
            model.predict,
            self._patch_px(model),
            inf.patch_overlap_px,
            self._call_batch(),
        )

    def _fusable(self) -> bool:
        """Whether segmentation and staining read the same patches (same pixel and patch
        size), so one pass cuts and blends the patches for both."""
        seg, stn = self.models.segmenter, self.models.stainer
        return (
            stn is not None
            and abs(seg.pixel_size_um - stn.pixel_size_um) < 1e-9
            and seg.patch_size == stn.patch_size
        )

    def segment_and_stain(
        self, grays: list[np.ndarray], px: float
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray | None]]:
        """``segment`` and ``stain`` of the same tiles; one patch pass when ``_fusable``.

        Each network sees the same patches either way and blending is per output, so the
        fused pass gives the same numbers as the two separate ones.
        """
        if not self._fusable():
            return self.segment(grays, px), self.stain(grays, px)
        seg, stn = self.models.segmenter, self.models.stainer
        assert stn is not None

        def both(x: np.ndarray) -> tuple[np.ndarray, ...]:
            with self.timer("segment network"):
                cell, nuc = seg.predict(x)
            with self.timer("stain network"):
                return cell, nuc, stn.predict(x)

        inf = self.settings.inference
        outs = predict_blended(
            self._to_model(grays, px, seg.pixel_size_um),
            both,
            self._patch_px(seg),
            inf.patch_overlap_px,
            self._call_batch(),
        )
        pairs = list(zip(outs, grays, strict=True))
        probs = [(resample(o[0], g.shape), resample(o[1], g.shape)) for o, g in pairs]
        return probs, [_to_uint8_rgb(o[2], g.shape) for o, g in pairs]

    def segment(self, grays: list[np.ndarray], px: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Cell and nucleus probabilities at the tiles' pixel size (``grays``: normalised)."""
        outs = self._predict_tiles(self.models.segmenter, grays, px)
        return [
            (resample(o[0], g.shape), resample(o[1], g.shape))
            for o, g in zip(outs, grays, strict=True)
        ]

    def stain(self, grays: list[np.ndarray], px: float) -> list[np.ndarray | None]:
        """Virtual stain (uint8 RGB) at the tiles' pixel size, or None without a stainer."""
        stn = self.models.stainer
        if stn is None:
            return [None] * len(grays)
        outs = self._predict_tiles(stn, grays, px)
        return [_to_uint8_rgb(o[0], g.shape) for o, g in zip(outs, grays, strict=True)]

    def crops(self, gray: np.ndarray, inst: Instances, px: float) -> tuple[np.ndarray, list[int]]:
        """Composite crops (N, 3, S, S) of every instance, built the way the classifier's
        training crops were: each from its own context window around the cell (binned to the
        classifier's pixel size, then contrast-stretched), not from the whole stretched tile.

        The stretch's percentiles depend on the field: a whole tile is mostly red cells, a
        training field is centred on a WBC, so the gray levels differ and so do the calls.
        ``gray`` is the normalised (unstretched) tile.
        """
        clf = self.models.classifier
        size = clf.crop_size
        inf = self.settings.inference
        ratio = clf.pixel_size_um / px
        k = int(round(ratio))
        binned = binning_factor(px, clf.pixel_size_um) is not None
        h, w = gray.shape
        ctx = inf.classifier_context_um
        if ctx is None:
            win_h, win_w = h, w
        else:
            n = max(int(round(ctx / px / max(k, 1))) * max(k, 1), size)
            win_h, win_w = min(n, h), min(n, w)
        out: list[np.ndarray] = []
        ids: list[int] = []
        for rp in regionprops(inst.cells):
            r, c = rp.centroid
            r0 = int(np.clip(int(round(r)) - win_h // 2, 0, h - win_h))
            c0 = int(np.clip(int(round(c)) - win_w // 2, 0, w - win_w))
            win = (slice(r0, r0 + win_h), slice(c0, c0 + win_w))
            g = gray[win]
            cells, nuclei = inst.cells[win] == rp.label, inst.nuclei[win] == rp.label
            if binned:
                for _ in range(int(round(np.log2(k)))):
                    g, cells, nuclei = bin2x2(g), cells[::2, ::2], nuclei[::2, ::2]
            else:
                shape = model_shape(g.shape, px, clf.pixel_size_um)
                g = resample(g, shape)
                cells = resample(cells.astype(np.uint8), shape, order=0) > 0
                nuclei = resample(nuclei.astype(np.uint8), shape, order=0) > 0
            g = contrast_stretch(g, inf.low_pct, inf.high_pct)
            rr, cc = np.nonzero(cells)
            if rr.size == 0:  # a sliver lost in binning: centre on the full-resolution centroid
                scale = g.shape[0] / win_h
                centre = ((r - r0) * scale, (c - c0) * scale)
            else:
                centre = (float(rr.mean()), float(cc.mean()))
            out.append(composite_crop(g, cells, nuclei & cells, centre, size))
            ids.append(rp.label)
        if not out:
            return np.zeros((0, 3, size, size), np.float32), ids
        return np.stack(out).astype(np.float32), ids

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classifier's outputs in order (a five-part classifier has no ``classes``)."""
        return tuple(getattr(self.models.classifier, "classes", CLASSES))

    def classify(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        clf = self.models.classifier
        n_cls = len(self.class_names)
        if len(crops) == 0:
            return np.zeros(0, np.float32), np.zeros((0, n_cls), np.float32)
        step = max(self.settings.inference.patch_batch * 4, 1)
        pd, pc = [], []
        for i in range(0, len(crops), step):
            a, b = clf.predict(crops[i : i + step])
            pd.append(np.asarray(a, np.float32).reshape(-1))
            pc.append(np.asarray(b, np.float32).reshape(-1, n_cls))
        return np.concatenate(pd), np.concatenate(pc)

    # ---------------------------------------------------------------- records
    def describe(
        self, tile: Tile, inst: Instances, p_dead: np.ndarray, p_class: np.ndarray, ids: list[int]
    ) -> list[CellRecord]:
        s = self.settings
        px = tile.pixel_size_um
        shape = tile.shape
        a_px = px * px
        gray = primary_image(tile, s.inference.wavelength_nm)
        index = np.arange(1, inst.count + 1)
        means = {
            nm: np.asarray(ndi.mean(np.asarray(tile.normalised[nm], np.float32), inst.cells, index))
            if nm in tile.normalised and inst.count
            else np.full(inst.count, np.nan)
            for nm in WAVELENGTH_COLUMNS
        }
        nuc_area = np.bincount(inst.nuclei.ravel(), minlength=inst.count + 1)[1:] * a_px
        pos = {lab: k for k, lab in enumerate(ids)}
        # the models room's classifier may apply its own (fitted) checkpoint inside predict
        own_checkpoint = getattr(self.models.classifier, "checkpoint", None) is None
        names = self.class_names
        records: list[CellRecord] = []
        for rp in regionprops(inst.cells, intensity_image=gray):
            k = pos[rp.label]
            area = rp.area * a_px
            cls, dead, rescued = decide(
                float(p_dead[k]),
                p_class[k],
                area,
                float(nuc_area[rp.label - 1]),
                int(rp.euler_number),
                float(rp.intensity_mean),
                s.checkpoint,
                own_checkpoint,
                names,
            )
            r, c = rp.centroid
            x_mm, y_mm = pixel_to_stage_mm(r, c, (tile.x_mm, tile.y_mm), shape, px)
            sides = touched_sides(rp.bbox, shape)
            if self.cores is not None:
                here = self.cores.counts_here(tile.index, float(x_mm), float(y_mm), sides)
            else:
                here = s.counting.keep_outer_border_cells or not any(sides.values())
            # a blurred cell would be misclassified: left out of the count, and said so
            counted = here and not is_out_of_focus(tile)
            m = {nm: float(means[nm][rp.label - 1]) for nm in WAVELENGTH_COLUMNS}
            pcs = p_class[k]
            records.append(
                CellRecord(
                    cell_id=f"t{tile.index:05d}c{rp.label:04d}",
                    tile=tile.index,
                    label=rp.label,
                    x_um=float(x_mm) * 1e3,
                    y_um=float(y_mm) * 1e3,
                    row=float(r),
                    col=float(c),
                    cell_class=cls,
                    dead=dead,
                    p_dead=float(p_dead[k]),
                    p_neutrophil=float(pcs[0]),
                    p_eosinophil=float(pcs[1]),
                    p_basophil=float(pcs[2]),
                    p_lymphocyte=float(pcs[3]),
                    p_monocyte=float(pcs[4]),
                    **preclass_probabilities(pcs, names),
                    cell_area_um2=float(area),
                    nucleus_area_um2=float(nuc_area[rp.label - 1]),
                    mean_260=m[260],
                    mean_280=m[280],
                    mean_300=m[300],
                    euler_number=int(rp.euler_number),
                    touches_edge=any(sides.values()),
                    counted=counted,
                    checkpoint_rescued=rescued,
                    excluded_out_of_focus=here and not counted,
                )
            )
        return records

    def _smear(self, tile: Tile, wbc_labels: np.ndarray) -> SmearTile:
        """Red cells and platelets of a tile; none counted when it is out of focus."""
        assert self.smear is not None
        st = self.smear.analyse(tile, wbc_labels, self.cores)
        if is_out_of_focus(tile):
            for r in st.rbcs:
                r.counted = False
            for p in st.platelets:
                p.counted = False
            st.gallery.clear()
        return st

    # ---------------------------------------------------------------- batch
    def analyse(self, tiles: Sequence[Tile]) -> list[TileResult]:
        """Analyse a batch of tiles of equal pixel size; raises AnalysisError on bad input."""
        return self.finish(self.infer(tiles))

    def infer(self, tiles: Sequence[Tile]) -> NetworkOutputs:
        """The networks' part of ``analyse`` (segmentation and staining of the batch).

        ``finish`` does the rest on the CPU; the two may run on different threads, so that
        an accelerator computes the next batch while numpy post-processes this one.
        """
        t0 = time.perf_counter()
        s = self.settings
        px = tiles[0].pixel_size_um if tiles else 0.0
        if any(abs(t.pixel_size_um - px) > 1e-9 for t in tiles):
            raise AnalysisError("a batch mixes pixel sizes; analyse such tiles separately")
        grays = [primary_image(t, s.inference.wavelength_nm) for t in tiles]
        if not tiles:
            return NetworkOutputs([], grays, [], [], px, t0)
        with self.timer("networks"):
            probs, stained = self.segment_and_stain(grays, px)
        self._resampled = None  # the batch's images are not kept beyond it
        return NetworkOutputs(list(tiles), grays, probs, stained, px, t0)

    def finish(self, out: NetworkOutputs) -> list[TileResult]:
        """Instances, crops, classification and cell records of ``infer``'s batch."""
        if not out.tiles:
            return []
        s, px = self.settings, out.px
        with self.timer("instances"):
            insts = [
                instances(cp, nuc, g, px, s.postprocess)
                for (cp, nuc), g in zip(out.probs, out.grays, strict=True)
            ]
        with self.timer("crops"):
            crop_sets = [self.crops(g, i, px) for g, i in zip(out.grays, insts, strict=True)]
        all_crops = np.concatenate([c for c, _ in crop_sets])
        with self.timer("classify"):
            p_dead, p_class = self.classify(all_crops)
        results: list[TileResult] = []
        start = 0
        with self.timer("describe"):
            for tile, g, inst, (crops, ids), st in zip(
                out.tiles, out.grays, insts, crop_sets, out.stained, strict=True
            ):
                n = len(crops)
                cells = self.describe(
                    tile, inst, p_dead[start : start + n], p_class[start : start + n], ids
                )
                start += n
                results.append(
                    TileResult(
                        index=tile.index,
                        spec=tile.spec,
                        x_mm=tile.x_mm,
                        y_mm=tile.y_mm,
                        shape=tile.shape,
                        pixel_size_um=px,
                        cells=cells,
                        labels=inst.cells,
                        nuclei=inst.nuclei,
                        stained=st,
                        gray=g,
                        removed=inst.removed,
                        out_of_focus=is_out_of_focus(tile),
                    )
                )
        if self.smear is not None:
            with self.timer("red cells and platelets"):
                for tile, inst, res in zip(out.tiles, insts, results, strict=True):
                    res.smear = self._smear(tile, inst.cells)
        self.timer.tiles += len(out.tiles)
        per = (time.perf_counter() - out.started_s) / len(out.tiles)
        for r in results:
            r.seconds = per
        return results
