"""The whole smear in one tile: red cells with their haemoglobin mass, and platelets.

``SmearAnalyser.analyse`` runs beside the white-cell pipeline on the same tile (same worker,
same core-region rule: an object is counted by the tile whose core holds its centroid and
whose shared edges it does not touch). It works on 2 x 2 binned absorbance (0.32 um pixels
on the default rig), which keeps integrals and costs a quarter of the pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from uvscope.acquisition.tiles import Tile
from uvscope.analysis.absorbance import (
    ClearGlass,
    HbCalibration,
    bin2_any,
    bin2_pick,
    binned_optical_density,
    clear_glass,
    optical_density,
)
from uvscope.analysis.dedup import CoreRegions, touched_sides
from uvscope.analysis.platelets import (
    Candidates,
    PlateletRecord,
    features,
    platelet_counts,
    profile,
)
from uvscope.analysis.rbc import (
    RbcRecord,
    Shapes,
    axis_ratio,
    distance_to_edge,
    holds_two,
    labelled_pixels,
    measure,
    measure_solidity,
    neighbour_pairs,
    outline_diameter_um,
    overlapping,
    split_touching,
)
from uvscope.analysis.rbc_classify import MorphologyFn, choose_morphology
from uvscope.analysis.rbc_morphology import sickle_members
from uvscope.analysis.settings import CbcSettings
from uvscope.analysis.window_max import window_max
from uvscope.geometry import pixel_to_stage_mm

#: binned pixels of margin around a red cell for its haemoglobin integral (halo and blur)
INTEGRAL_MARGIN_UM = 0.9
#: smoothing of the absorbance before thresholding (noise)
SMOOTH_UM = 0.3
#: binned pixels between a red cell's mask and what may be a platelet beside it
PLATELET_GAP_PX = 2
#: a platelet centred this much further from a red cell than PLATELET_GAP_PX is still found;
#: nearer, it is hidden. Its body absorbs above the red-cell threshold, so a platelet whose
#: edge touches a red cell joins that cell's mask and widens the zone around itself: 1 binned
#: pixel left such platelets hidden where the area counted them visible (the count read low)
PLATELET_HIDDEN_PX = 2
#: binned pixels from a single platelet's centroid to its farthest pixel (typical): a clump
#: reaching further is seen on less of the tile (``SmearAnalyser._visible_share``)
PLATELET_REACH_PX = 4.0
#: half-width of the square with a disc's area, per radius
SQUARE_PER_DISC = math.sqrt(math.pi) / 2
#: WBC masks grow by this much before objects touching them are set aside
WBC_MARGIN_UM = 1.0


@dataclass(frozen=True)
class GalleryCrop:
    """A small OD image of a cell for the report's gallery."""

    kind: str  # a morphology class or "platelet_clump"
    object_id: str
    od: np.ndarray  # float32, binned pixels


@dataclass
class SmearTile:
    """What one tile holds of red cells and platelets."""

    index: int
    rbcs: list[RbcRecord] = field(default_factory=list)
    platelets: list[PlateletRecord] = field(default_factory=list)
    clear_level: float = float("nan")
    background_ok: bool = True
    clear_saturated: bool = False
    hb_wavelength_nm: int = 260
    #: why haemoglobin mass is not measured in this tile (None: it is)
    hb_problem: str | None = None
    #: share of the tile where a platelet would be seen (not under or against a red or white
    #: cell): platelet counts are divided by it, platelets being placed independently of cells
    platelet_visible_fraction: float = 1.0
    #: sickle cells read in groups of touching or overlapping cells (counted here, not whole:
    #: ``rbc_morphology.sickle_members``)
    sickle_in_groups: int = 0
    gallery: list[GalleryCrop] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counted_rbcs(self) -> list[RbcRecord]:
        return [r for r in self.rbcs if r.counted]

    @property
    def counted_platelets(self) -> list[PlateletRecord]:
        return [p for p in self.platelets if p.counted]


@dataclass
class _Frame:
    """One tile's binned absorbance and object map, shared by the steps of ``analyse``."""

    tile: Tile
    od: np.ndarray  # OD at the analysis wavelength (binned)
    #: the transmission at full resolution and its clear glass: the platelet candidates' OD is
    #: read from them at full resolution, window by window (the whole tile's is never needed)
    transmission: np.ndarray
    clear: ClearGlass
    od_hb: np.ndarray | None  # OD at the haemoglobin wavelength (binned), None: not measured
    clipped: np.ndarray | None  # binned pixels at the clear glass's clip value
    labels: np.ndarray
    count: int
    px_um: float  # binned pixel size
    objects: np.ndarray  # bool: every absorbing object but the white cells
    smooth: np.ndarray  # the smoothed OD the objects are thresholded on
    wbc: np.ndarray | None  # bool: white cells and their margin
    #: the red-cell pieces' pixels (flat indices, piece labels), once they are split
    piece_px: tuple[np.ndarray, np.ndarray] | None = None
    #: bool: the red cells grown by PLATELET_GAP_PX and the white cells: what a platelet
    #: touching it is lost against (set by ``_rest``)
    obstacles: np.ndarray | None = None
    #: share of the tile clear of ``obstacles`` grown by n binned pixels, by n (as needed)
    clear_shares: dict[int, float] = field(default_factory=dict)

    def stage_um(self, row: float, col: float) -> tuple[float, float]:
        t = self.tile
        x, y = pixel_to_stage_mm(
            2 * row + 0.5, 2 * col + 0.5, (t.x_mm, t.y_mm), t.shape, t.pixel_size_um
        )
        return float(x) * 1e3, float(y) * 1e3


def _grow(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """``mask`` grown by a square of ``radius_px`` (a separable maximum: cheap)."""
    return window_max(mask, 2 * radius_px + 1)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background region that does not reach the border filled (the
    result of ``scipy.ndimage.binary_fill_holes``, by one labelling instead of iterated
    dilations: a few times faster on a tile)."""
    lab, n = ndi.label(~mask)
    keep = np.ones(n + 1, bool)
    keep[0] = False
    keep[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])] = False
    filled: np.ndarray = mask | keep[lab]
    return filled


def _bbox(sl: tuple[slice, slice]) -> tuple[int, int, int, int]:
    return (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)


def _rbc_columns(
    f: _Frame,
    shapes: Shapes,
    diameter_um: np.ndarray,
    morph: np.ndarray,
    hb: np.ndarray | None,
    over: np.ndarray,
    clipped: np.ndarray,
) -> dict[str, list[Any]]:
    """Every piece's record fields but its id, tile and count, as lists indexed by label:
    converted to Python values once per tile rather than field by field per record."""
    t = f.tile
    x, y = pixel_to_stage_mm(
        2 * shapes.row + 0.5, 2 * shapes.col + 0.5, (t.x_mm, t.y_mm), t.shape, t.pixel_size_um
    )
    whole = ~(over | clipped)
    nan = np.full(over.shape, np.nan)
    return {
        "x_um": (np.asarray(x) * 1e3).tolist(),
        "y_um": (np.asarray(y) * 1e3).tolist(),
        "area_um2": shapes.area_um2.tolist(),
        "equivalent_diameter_um": diameter_um.tolist(),
        "major_axis_um": shapes.major_um.tolist(),
        "minor_axis_um": shapes.minor_um.tolist(),
        "eccentricity": shapes.eccentricity.tolist(),
        "solidity": shapes.solidity.tolist(),
        "circularity": shapes.circularity.tolist(),
        "pallor_ratio": shapes.pallor_ratio.tolist(),
        "centre_ratio": shapes.centre_ratio.tolist(),
        "hb_pg": (nan if hb is None else np.where(whole, hb, np.nan)).tolist(),
        "hb_share_pg": (nan if hb is None else np.where(clipped, np.nan, hb)).tolist(),
        "overlapped": over.tolist(),
        "saturated": clipped.tolist(),
        "morph": [str(m) for m in np.where(whole, morph, "")],
    }


class SmearAnalyser:
    """Red cells and platelets of tiles, counted once across overlaps."""

    def __init__(
        self,
        settings: CbcSettings | None = None,
        haemoglobin: HbCalibration | None = None,
        analysis_nm: int = 260,
        background_usable: bool = True,
        morphology: MorphologyFn | None = None,
    ) -> None:
        self.settings = settings or CbcSettings()
        #: classes every whole red cell (``[cbc] morphology``: the network or the rule set)
        self.morphology = morphology or choose_morphology(self.settings)
        self.haemoglobin = haemoglobin or HbCalibration()
        self.analysis_nm = analysis_nm
        self.hb_nm = self.settings.hb_wavelength_nm or analysis_nm
        #: False when the scan recorded no background (normalised tiles are then raw counts)
        self.background_usable = background_usable

    # ---------------------------------------------------------------- entry
    def analyse(
        self, tile: Tile, wbc_labels: np.ndarray | None, cores: CoreRegions | None
    ) -> SmearTile:
        out = SmearTile(index=tile.index, hb_wavelength_nm=self.hb_nm)
        frame = self._frame(tile, wbc_labels, out)
        self._objects(frame, cores, out)
        return out

    # ---------------------------------------------------------------- steps
    def _frame(self, tile: Tile, wbc_labels: np.ndarray | None, out: SmearTile) -> _Frame:
        s = self.settings
        t = np.asarray(tile.normalised[self.analysis_nm], dtype=np.float32)
        clear = clear_glass(t)
        out.clear_level = clear.level
        out.clear_saturated = clear.saturated
        out.background_ok = (
            self.background_usable and abs(clear.level - 1.0) <= s.max_clear_deviation
        )
        od = binned_optical_density(t, clear)
        px = 2.0 * tile.pixel_size_um
        smooth = ndi.gaussian_filter(od, SMOOTH_UM / px)
        objects = smooth > s.od_threshold
        wbc: np.ndarray | None = None
        if wbc_labels is not None and wbc_labels.any():
            wbc = _grow(bin2_pick(wbc_labels) > 0, max(int(round(WBC_MARGIN_UM / px)), 1))
            objects &= ~wbc
        # red cells: the dense objects, holes (pale centres) filled; a platelet's body absorbs
        # less than this, so one against a red cell stays outside it but for its dense centre
        dense = fill_holes(objects & (smooth > s.rbc_od_threshold))
        labels, n = ndi.label(dense)
        od_hb, clipped = self._hb_image(tile, od, t, clear, out)
        return _Frame(tile, od, t, clear, od_hb, clipped, labels, n, px, objects, smooth, wbc)

    def _hb_image(
        self, tile: Tile, od: np.ndarray, t: np.ndarray, clear: ClearGlass, out: SmearTile
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """OD at the haemoglobin wavelength (binned), or None and the reason in ``out``."""
        nm = self.hb_nm
        if self.haemoglobin.od_per_pg_um2(nm) is None:
            out.hb_problem = (
                f"no haemoglobin absorptivity for {nm} nm in the rig config "
                "(haemoglobin_absorptivity_cm2_g); haemoglobin mass not measured"
            )
            return None, None
        if nm not in tile.normalised:
            out.hb_problem = f"the scan has no {nm} nm image; haemoglobin mass not measured"
            return None, None
        if not out.background_ok:
            out.hb_problem = (
                "no usable background (clear glass reads "
                f"{out.clear_level:.2f} of the background, or none was taken); "
                "haemoglobin mass needs a background taken on a blank region"
            )
            return None, None
        if nm != self.analysis_nm:
            t = np.asarray(tile.normalised[nm], dtype=np.float32)
            clear = clear_glass(t)
            od = binned_optical_density(t, clear)
        clipped = bin2_any(t >= clear.clip_value) if clear.saturated else None
        return od, clipped

    def _objects(self, f: _Frame, cores: CoreRegions | None, out: SmearTile) -> None:
        s = self.settings
        n = f.count
        a_px = f.px_um * f.px_um
        px = labelled_pixels(f.labels)  # sums over the objects' pixels only (a third)
        area = np.bincount(px[1], minlength=n + 1) * a_px
        od_sum = np.bincount(px[1], f.od.ravel()[px[0]], minlength=n + 1) * a_px
        mean_od = od_sum / np.maximum(area, 1e-9)
        # dense enough, or larger than any platelet clump (a pale, large red cell)
        is_rbc = (area >= s.rbc_min_area_um2) & (
            (mean_od >= s.rbc_min_mean_od) | (area > s.platelet_max_area_um2)
        )
        is_rbc[0] = False
        pieces = None
        if is_rbc.any():
            dist = distance_to_edge(f.labels > 0)
            pieces, origin, split = split_touching(
                f.labels, is_rbc, dist, s.split_radius_um / f.px_um, px
            )
        rest, hidden = self._rest(f, pieces, out)
        if pieces is not None:
            kept = px[0][is_rbc[px[1]]]  # the pieces' pixels: the red cells' objects' pixels
            f.piece_px = (kept, pieces.ravel()[kept])
            self._rbcs(f, pieces, split, dist, rest, cores, out)
        self._platelets(f, rest, hidden, cores, out)

    def _rest(
        self, f: _Frame, pieces: np.ndarray | None, out: SmearTile
    ) -> tuple[np.ndarray, np.ndarray]:
        """What absorbs beyond the red cells' margin (platelets, debris), and where a
        platelet's centre is hidden (on or against a red or white cell); sets the share of the
        tile where it is not."""
        rest = f.objects
        hidden = f.wbc if f.wbc is not None else np.zeros(rest.shape, bool)
        f.obstacles = hidden
        if pieces is not None:
            cells = pieces > 0
            near = _grow(cells, PLATELET_GAP_PX)
            rest = rest & ~near
            f.obstacles = hidden | near
            # grown by the gap, then by the hidden zone: one square of both (the same pixels)
            hidden = hidden | _grow(cells, PLATELET_GAP_PX + PLATELET_HIDDEN_PX)
        out.platelet_visible_fraction = float(1.0 - hidden.mean())
        return rest, hidden

    def _visible_share(self, f: _Frame, reach_px: float, out: SmearTile) -> float:
        """Share of the tile where an object reaching ``reach_px`` (binned pixels, centroid to
        its farthest pixel) further than a single platelet is seen clear of the cells: the
        single platelets' share times how much less of the tile stays clear of the cells when
        the guard zone grows by that much (platelets and clumps lie independently of the
        cells, and one that touches a red cell is lost in its mask)."""
        extra = reach_px - PLATELET_REACH_PX
        if extra <= 0 or f.obstacles is None or not f.obstacles.any():
            return out.platelet_visible_fraction
        base, grown = (self._clear_share(f, PLATELET_HIDDEN_PX + e) for e in (0.0, extra))
        return out.platelet_visible_fraction * grown / max(base, 1e-9)

    @staticmethod
    def _clear_share(f: _Frame, radius_px: float) -> float:
        """Share of the tile farther than ``radius_px`` from the obstacles: grown by squares
        of a disc's area (half-width sqrt(pi) / 2 of the radius: cheap where a distance
        transform is not), interpolated between whole pixels; cached per tile."""
        half = SQUARE_PER_DISC * radius_px
        lo = int(half)
        for n in (lo, lo + 1):
            if n not in f.clear_shares:
                assert f.obstacles is not None
                f.clear_shares[n] = float(1.0 - _grow(f.obstacles, n).mean())
        t = half - lo
        return (1.0 - t) * f.clear_shares[lo] + t * f.clear_shares[lo + 1]

    def _platelets(
        self,
        f: _Frame,
        rest: np.ndarray,
        hidden: np.ndarray,
        cores: CoreRegions | None,
        out: SmearTile,
    ) -> None:
        """Weak objects that are no red cell, single or clumped, whose centre lies where a
        platelet can be seen (the count is scaled by that area's share: an unbiased estimate
        when platelets lie independently of red cells)."""
        cand = self._candidates(f, rest, hidden)
        if cand is None:
            return
        counts = platelet_counts(cand.features, cand.od_um2, self.settings.platelet_single_od_um2)
        for i in np.nonzero(counts)[0]:
            k = int(cand.ids[i])
            self._platelet(
                f, cand.labels, k, cand.slices[k - 1], float(cand.area_um2[i]),
                float(cand.od_um2[i]), int(counts[i]), cores, out,
            )  # fmt: skip

    def _candidates(self, f: _Frame, rest: np.ndarray, hidden: np.ndarray) -> Candidates | None:
        """Objects beside the red cells with a platelet's size and density range, centred
        where a platelet can be seen, with what tells a platelet from debris."""
        s = self.settings
        labels, n = ndi.label(rest)
        if n == 0:
            return None
        a_px = f.px_um * f.px_um
        flat, lab = labelled_pixels(labels)  # sums over the objects' pixels only
        area = np.bincount(lab, minlength=n + 1) * a_px
        od_sum = np.bincount(lab, f.od.ravel()[flat], minlength=n + 1) * a_px
        mean_od = od_sum / np.maximum(area, 1e-9)
        ok = (
            (area >= s.platelet_min_area_um2)
            & (area <= s.platelet_max_area_um2)
            & (od_sum >= s.platelet_min_od_um2)
            & (mean_od >= s.platelet_min_mean_od)
            & (mean_od <= s.platelet_max_mean_od)
        )
        ok[0] = False
        slices = ndi.find_objects(labels)
        ids, profiles = [], []
        for k in np.nonzero(ok)[0]:
            sl = slices[k - 1]
            mask = labels[sl] == k
            rr, cc = np.nonzero(mask)
            if hidden[sl[0].start + int(round(rr.mean())), sl[1].start + int(round(cc.mean()))]:
                continue  # centred where a platelet could not be seen: not in the estimate
            full = (slice(2 * sl[0].start, 2 * sl[0].stop), slice(2 * sl[1].start, 2 * sl[1].stop))
            ids.append(int(k))
            profiles.append(profile(optical_density(f.transmission[full], f.clear), mask))
        if not ids:
            return None
        idx = np.array(ids)
        prof = np.array(profiles, np.float64)
        keep = np.zeros(n + 1, bool)
        keep[idx] = True
        sel = np.flatnonzero(keep[labels])  # the candidates' pixels only
        ratio = axis_ratio(labels, n, (sel, labels.ravel()[sel]))
        feats = features(mean_od[idx], ratio[idx], area[idx], prof)
        return Candidates(labels, slices, idx, area[idx], od_sum[idx], feats)

    def _rbcs(
        self,
        f: _Frame,
        pieces: np.ndarray,
        split: np.ndarray,
        dist: np.ndarray,
        rest: np.ndarray,
        cores: CoreRegions | None,
        out: SmearTile,
    ) -> None:
        """Records of every red-cell piece: shape, class, haemoglobin, counted or not."""
        m = len(split) - 1
        sides = neighbour_pairs(pieces)
        shapes = measure(pieces, m, f.od, dist, f.px_um, sides, f.piece_px)
        over = overlapping(pieces, split, shapes.area_um2, f.px_um, sides)
        margin = labelled_pixels(self._margins(f, pieces, rest))  # a third of the tile
        assert f.piece_px is not None
        diameter = outline_diameter_um(margin, m, f.smooth, dist, f.px_um, f.piece_px)
        hb = self._hb_pg(f, margin, m, shapes.perimeter_um)
        if hb is not None:
            over |= holds_two(hb, over)
        clipped = (
            np.bincount(pieces[f.clipped], minlength=m + 1) > 0
            if f.clipped is not None
            else np.zeros(m + 1, bool)
        )
        slices = ndi.find_objects(pieces)
        whole = ~(over | clipped)
        measure_solidity(pieces, shapes, whole, slices)
        morph = self.morphology(f.od, pieces, shapes, whole, f.px_um)
        columns = _rbc_columns(f, shapes, diameter, morph, hb, over, clipped)
        for k, sl in enumerate(slices, start=1):
            if sl is None:
                continue
            rec = self._record(f, k, sl, columns, cores)
            out.rbcs.append(rec)
            if rec.counted and rec.morph not in ("", "normal"):
                self._keep_crop(out, rec.morph, rec.rbc_id, f.od, _bbox(sl))
        self._grouped_sickles(f, over[pieces], cores, out)

    def _grouped_sickles(
        self, f: _Frame, grouped: np.ndarray, cores: CoreRegions | None, out: SmearTile
    ) -> None:
        """Count the sickle cells that lie in groups of touching or overlapping cells (each
        by the tile whose core holds its centre), which the whole-cell shares cannot see. The
        opening runs once over the whole tile's groups: a disc that fits in them fits in one
        group, so it reads each group as alone, at a fraction of the cost of one call per
        group (a fifth of the step on the sickle donor)."""
        if not grouped.any():
            return
        for row, col, bbox in sickle_members(grouped, f.px_um):
            x_um, y_um = f.stage_um(row, col)
            out.sickle_in_groups += self._counts_here(f, cores, x_um, y_um, bbox)

    def _record(
        self,
        f: _Frame,
        k: int,
        sl: tuple[slice, slice],
        columns: dict[str, list[Any]],
        cores: CoreRegions | None,
    ) -> RbcRecord:
        values = {name: column[k] for name, column in columns.items()}
        return RbcRecord(
            rbc_id=f"t{f.tile.index:05d}r{k:05d}",
            tile=f.tile.index,
            **values,
            counted=self._counts_here(f, cores, values["x_um"], values["y_um"], _bbox(sl)),
        )

    def _margins(self, f: _Frame, pieces: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """The pieces grown by ``INTEGRAL_MARGIN_UM`` into the pixels no other object claims
        (the blurred edge and the scattering halo): each empty pixel that near goes to a red
        cell there (the larger label where two are that near: such cells are split pieces,
        whose haemoglobin is not measured); a platelet or debris beside a cell is not its."""
        r = int(round(INTEGRAL_MARGIN_UM / f.px_um))
        grown = np.where(pieces > 0, pieces, window_max(pieces, 2 * r + 1))
        grown[rest] = 0
        return grown

    def _hb_pg(
        self, f: _Frame, margin: tuple[np.ndarray, np.ndarray], m: int, perimeter_um: np.ndarray
    ) -> np.ndarray | None:
        """Haemoglobin mass of every piece: integrated OD at the haemoglobin wavelength over
        the piece and its margin (the labelled pixels of ``_margins``: each label's sum adds
        the same values in the same order as over the whole tile), less the edge scattering,
        over haemoglobin's absorptivity."""
        if f.od_hb is None:
            return None
        eps = self.haemoglobin.od_per_pg_um2(self.hb_nm)
        assert eps is not None
        at, own = margin
        total = np.bincount(own, f.od_hb.ravel()[at], minlength=m + 1) * (f.px_um * f.px_um)
        edge = self.haemoglobin.edge_od_um(self.hb_nm) * perimeter_um
        hb: np.ndarray = (total - edge) / eps
        return hb

    def _counts_here(
        self,
        f: _Frame,
        cores: CoreRegions | None,
        x_um: float,
        y_um: float,
        bbox: tuple[int, int, int, int],
    ) -> bool:
        r0, c0, r1, c1 = bbox
        h, w = f.labels.shape
        sides = touched_sides((2 * r0, 2 * c0, 2 * r1, 2 * c1), (2 * h, 2 * w))
        if cores is None:
            return not any(sides.values())
        return cores.counts_here(f.tile.index, x_um * 1e-3, y_um * 1e-3, sides)

    def _platelet(
        self,
        f: _Frame,
        labels: np.ndarray,
        k: int,
        sl: tuple[slice, slice],
        area_um2: float,
        od_um2: float,
        count: int,
        cores: CoreRegions | None,
        out: SmearTile,
    ) -> None:
        rr, cc = np.nonzero(labels[sl] == k)
        row, col = sl[0].start + float(rr.mean()), sl[1].start + float(cc.mean())
        reach = float(np.sqrt(((rr - rr.mean()) ** 2 + (cc - cc.mean()) ** 2).max()))
        share = self._visible_share(f, reach, out) if count >= 2 else out.platelet_visible_fraction
        x_um, y_um = f.stage_um(row, col)
        bbox = (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)
        rec = PlateletRecord(
            platelet_id=f"t{f.tile.index:05d}p{k:05d}",
            tile=f.tile.index,
            x_um=x_um,
            y_um=y_um,
            area_um2=area_um2,
            integrated_od_um2=od_um2,
            clump=count >= 2,
            platelets_estimated=count,
            counted=self._counts_here(f, cores, x_um, y_um, bbox),
            visible_share=share,
        )
        out.platelets.append(rec)
        if rec.counted and rec.clump:
            self._keep_crop(out, "platelet_clump", rec.platelet_id, f.od, bbox)

    def _keep_crop(
        self, out: SmearTile, kind: str, oid: str, od: np.ndarray, bbox: tuple[int, int, int, int]
    ) -> None:
        """A few crops per class and tile for the report's gallery (bounded memory)."""
        if sum(g.kind == kind for g in out.gallery) >= max(self.settings.gallery_per_class, 0):
            return
        r0, c0, r1, c1 = bbox
        rc, cc = (r0 + r1) // 2, (c0 + c1) // 2
        half = max(r1 - r0, c1 - c0, 24) // 2 + 4
        h, w = od.shape
        crop = od[max(rc - half, 0) : min(rc + half, h), max(cc - half, 0) : min(cc + half, w)]
        out.gallery.append(GalleryCrop(kind, oid, np.array(crop, dtype=np.float32)))
