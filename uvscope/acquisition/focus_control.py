"""Focus during a scan: build the focus source before the tiles, then check every tile.

The engine asks this controller for a focus source (fixed z, one autofocus, or a fitted focus
map) after the backgrounds, and hands it every tile. Each tile gets its sharpness recorded
(``tile.focus.score``, the configured metric) and its focus judged by a measure that does
not depend on how much is in the field (``tile.focus.ratio``: fine detail over total
structure, relative to the map points). Blank fields are never judged. A tile whose ratio is
low is probed at z +- ``PROBE_STEP_UM`` (two frames); only when the probe says focus is
elsewhere is it swept, re-focused and taken again. A tile whose focus cannot be confirmed is
flagged ``tile.focus.out_of_focus`` so the analysis can leave it out of the counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from uvscope.acquisition.autofocus import (
    DEPTH_OF_FIELD_UM,
    Autofocus,
    AutofocusResult,
    Sharpness,
    SweepSettings,
    focus_metric,
    parabola_peak,
    sharpness,
)
from uvscope.acquisition.events import PrepStep
from uvscope.acquisition.focus_map import (
    AUTO_POINT_SPACING_MM,
    FixedFocus,
    FocusMap,
    FocusPoint,
    LocalCorrections,
    auto_map_point_count,
    choose_map_points,
    grid_map_points,
    nearest_neighbour_order,
)
from uvscope.acquisition.map_lattice import Box, MapLattice, nearest_tiles
from uvscope.acquisition.plan import GridPlan
from uvscope.acquisition.prep_progress import PrepReporter
from uvscope.acquisition.tiles import FocusVerdict, Tile, TileSpec
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.errors import ConfigError, DeviceError, ScanAborted, ScanError

Log = Callable[..., None]

#: structure over noise below which a field is blank glass: nothing to focus on or to count
BLANK_SNR = 0.5
#: below this a field is too sparse to trust a sweep: flagged when the probe is not convincing
SPARSE_SNR = 2.0
#: focus step of the quick probe either side of a doubtful tile (about 0.7 depth of field)
PROBE_STEP_UM = 1.0
#: ``mode = "auto"`` uses one autofocus up to this many tiles, a focus map above
AUTO_SINGLE_FOCUS_TILES = 4
#: slide tilt to expect when warning about fixed focus (um per mm; 1 um/mm is 0.06 degrees)
TYPICAL_TILT_UM_PER_MM = (1.0, 2.0)
#: other tiles tried near a map point whose field is blank (no structure to focus on)
MAP_POINT_ALTERNATIVES = 6
#: structure over noise a map point's field needs (a few cells; blank glass is ~0)
MAP_POINT_MIN_SNR = 2.0


def effective_mode(mode: str, n_tiles: int) -> str:
    """The focus strategy a scan of ``n_tiles`` runs with (``auto`` resolved)."""
    if mode != "auto":
        return mode
    return "autofocus-once" if n_tiles <= AUTO_SINGLE_FOCUS_TILES else "map"


def fixed_focus_warning(plan: GridPlan) -> str | None:
    """Why fixed focus will fail on this region, or None when it is small enough.

    The excursion is what a typical slide tilt gives over the region's diagonal; it is an
    expectation (the slide is not measured before the scan), said as such.
    """
    x0, y0, x1, y1 = plan.bounds_mm
    diag_mm = math.hypot(x1 - x0, y1 - y0)
    lo, hi = (t * diag_mm for t in TYPICAL_TILT_UM_PER_MM)
    if lo <= DEPTH_OF_FIELD_UM / 2:
        return None
    return (
        f"fixed focus over a {x1 - x0:.2f} x {y1 - y0:.2f} mm region: a typical slide tilt of "
        f"{TYPICAL_TILT_UM_PER_MM[0]:g}-{TYPICAL_TILT_UM_PER_MM[1]:g} um/mm moves the slide "
        f"surface by about {lo:.1f}-{hi:.1f} um across it, against a depth of field of "
        f"{DEPTH_OF_FIELD_UM:g} um; every soft tile will be re-focused one by one (slow) or "
        'left out of counting. Use focus mode "auto" or "map" for a region this size'
    )


def _focus_ratio(tile: Tile) -> float:
    """The tile's recorded focus ratio (0.0 when it has none)."""
    return tile.focus.ratio if tile.focus.ratio is not None else 0.0


class FocusController:
    """Owns the autofocus, the focus map and the per-tile focus check of one scan."""

    def __init__(
        self,
        rig: Rig,
        scan: ScanConfig,
        normalise: Callable[[int, np.ndarray], np.ndarray],
        should_stop: Callable[[], bool] = lambda: False,
        log: Log = lambda kind, message, **extra: None,
        point_retries: int = 1,
        prep: PrepReporter | None = None,
    ) -> None:
        self.rig, self.scan, self.cfg = rig, scan, scan.focus
        nms = [w.nm for w in scan.wavelengths]
        self.wavelength_nm = (
            self.cfg.wavelength_nm if self.cfg.wavelength_nm is not None else nms[0]
        )
        if self.wavelength_nm not in nms:
            raise ConfigError(
                f"focus.wavelength_nm = {self.wavelength_nm} is not one of the scan's "
                f"wavelengths {nms}; focus at a wavelength the scan images"
            )
        exposure = {w.nm: w.exposure_ms for w in scan.wavelengths}[self.wavelength_nm]
        self.settings = SweepSettings(
            self.cfg.sweep_range_um,
            self.cfg.sweep_steps,
            self.cfg.fine_range_um,
            self.cfg.fine_steps,
            self.cfg.metric,
            self.cfg.min_contrast,
        )
        self.metric = focus_metric(self.cfg.metric)
        self.normalise = normalise
        self.autofocus = Autofocus(
            rig,
            self.settings,
            self.wavelength_nm,
            exposure,
            normalise=lambda raw: normalise(self.wavelength_nm, raw),
            should_stop=should_stop,
        )
        self.log = log
        self.should_stop = should_stop
        #: progress of the focus points taken before the tiles
        self.prep = prep if prep is not None else PrepReporter()
        self.exposure_ms = exposure
        self.point_retries = point_retries
        self.source: FocusMap | FixedFocus | None = None
        self.reference: float | None = None
        #: median focus ratio of the autofocus points: the in-focus value tiles are judged by
        self.reference_ratio: float | None = None
        self.probed = 0
        self.results: list[AutofocusResult] = []
        self.refocused = 0
        self.refocus_points: list[list[float]] = []  # x, y, planned z, found z
        self._retaken: dict[int, tuple[float, FocusVerdict]] = {}
        self.flagged = 0
        #: the focus strategy in use ("auto" resolved by prepare(), recorded in the manifest)
        self.mode: str = self.cfg.mode
        #: focus found at tiles during the scan, spread to their neighbours
        self.corrections = LocalCorrections()
        #: a growing scan's map points (``grow_from``): the lattice, the box of nodes measured
        self.lattice: MapLattice | None = None
        self.box: Box | None = None
        self._plan: GridPlan | None = None
        self._map_tiles: set[int] = set()  # tiles the map points were measured at

    def grow_from(self, start_mm: tuple[float, float]) -> None:
        """A growing scan (count N WBCs): its map (``map_points = "auto"``) is measured
        around ``start_mm`` first and grows with the rings (``extend``)."""
        if self.cfg.map_points == "auto":
            self.lattice = MapLattice(start_mm, AUTO_POINT_SPACING_MM)

    # ------------------------------------------------------------------ before the tiles
    def prepare(
        self, plan: GridPlan, saved: dict[str, Any] | None = None
    ) -> FocusMap | FixedFocus | None:
        """The focus source for the scan (None: leave focus where it is, the fixed mode).

        Every mode ends with a reference focus ratio, so the per-tile check works in all of
        them: fixed focus measures it with one autofocus at the region centre and then puts
        the focus back where the user left it.
        """
        self.mode = effective_mode(self.cfg.mode, len(plan.tiles))
        self._plan = plan
        mode = self.mode
        limits = self.rig.focus.limits_um
        if saved and saved.get("mode") == mode and mode != "fixed":
            self.reference = saved.get("reference_score")
            self.reference_ratio = saved.get("reference_ratio")
            if mode == "map":
                self.source = FocusMap.from_dict(saved["map"], limits)
                self._reload_lattice(saved, self.source, plan)
            else:
                self.source = FixedFocus(float(saved["z_um"]), self.reference)
            for x, y, dz in saved.get("corrections", []):
                self.corrections.add(float(x), float(y), float(dz))
            self.log("focus", f"focus {mode} reloaded from the manifest")
            return self.source
        if mode == "fixed":
            self._fixed_reference(plan, saved)
            return None
        if mode == "autofocus-once":
            return self._focus_once(plan)
        return self._build_map(plan)

    def _focus_once(self, plan: GridPlan) -> FixedFocus | None:
        """One autofocus at the region centre (or the nearest tile there with structure)."""
        planned = choose_map_points(plan.tiles, 1)[0]
        self.prep.begin(PrepStep.FOCUS, 1)
        centre = self._structured(planned, plan, set())
        res = (
            self._focus_point(planned.x_mm, planned.y_mm, None)
            if centre is None
            else (self._focus_point(centre.x_mm, centre.y_mm, None))
        )
        self.prep.advance()
        if not res.found:
            if self.cfg.mode == "auto":
                self._no_map_points(1)
                return None
            raise ScanError(
                f"autofocus found no focus near ({res.x_mm:.3f}, {res.y_mm:.3f}) mm: "
                f'{res.message}. Set focus.z_um with mode = "fixed", or widen '
                "focus.sweep_range_um"
            )
        self.reference = res.score
        self.reference_ratio = self._reference_ratio([res])
        self.source = FixedFocus(res.z_um, res.score)
        return self.source

    def _fixed_reference(self, plan: GridPlan, saved: dict[str, Any] | None) -> None:
        """Fixed focus: warn about a large region, and measure the in-focus focus ratio the
        tiles are judged by (one autofocus at the centre; the focus is then put back)."""
        warning = fixed_focus_warning(plan)
        if warning is not None:
            self.log("focus-warning", warning)
        if saved and saved.get("mode") == "fixed" and saved.get("reference_ratio"):
            self.reference_ratio = float(saved["reference_ratio"])
            return
        if self.cfg.refocus_threshold <= 0:
            return
        z_before = self.rig.focus.position_um()
        centre = choose_map_points(plan.tiles, 1)[0]
        self.prep.begin(PrepStep.FOCUS, 1)
        res = self._focus_point(centre.x_mm, centre.y_mm, self.cfg.z_um)
        self.prep.advance()
        self.rig.focus.move_to_um(z_before)
        self.reference_ratio = self._reference_ratio([res]) if res.found else None
        if self.reference_ratio is None:
            self.log(
                "focus-warning",
                "fixed focus: no focus found at the region centre to "
                "judge the tiles by; tiles are not checked for focus",
            )

    def _focus_point(self, x_mm: float, y_mm: float, centre: float | None) -> AutofocusResult:
        """One autofocus, retried after a device error (faults must not lose the map)."""
        attempt = 0
        while True:
            try:
                res = self.autofocus.run(x_mm, y_mm, centre)
                break
            except DeviceError as err:
                attempt += 1
                self.log(
                    "device-error",
                    f"autofocus at ({x_mm:.3f}, {y_mm:.3f}) mm: {err}",
                    attempt=attempt,
                )
                if attempt > self.point_retries:
                    raise
                self.rig.reopen()
        self.results.append(res)
        return res

    def _map_candidates(self, plan: GridPlan) -> list[TileSpec]:
        if self.cfg.map_points == "auto":
            columns, rows = auto_map_point_count(plan.tiles)
            return grid_map_points(plan.tiles, columns, rows)
        return choose_map_points(plan.tiles, int(self.cfg.map_points))

    def _has_structure(self, spec: TileSpec) -> bool:
        """One frame at the tile: is there something to focus on (not blank glass)?"""
        rig = self.rig
        rig.stage.move_to_mm(spec.x_mm, spec.y_mm)
        rig.filter_wheel.move_to_wavelength(self.wavelength_nm)
        if rig.camera.exposure_ms != self.exposure_ms:
            rig.camera.set_exposure_ms(self.exposure_ms)
        img = self.normalise(self.wavelength_nm, rig.camera.snap().image)
        return sharpness(img).snr >= MAP_POINT_MIN_SNR

    def _structured(self, spec: TileSpec, plan: GridPlan, taken: set[int]) -> TileSpec | None:
        """``spec``, or the nearest tile around it whose field has structure; None if the
        neighbourhood is blank. Autofocus on blank glass finds nothing, and a sparse field
        gives a poor peak, so map points go where there are cells."""
        near = sorted(
            (t for t in plan.tiles if t.index not in taken),
            key=lambda t: (t.x_mm - spec.x_mm) ** 2 + (t.y_mm - spec.y_mm) ** 2,
        )
        for cand in near[: 1 + MAP_POINT_ALTERNATIVES]:
            if self.should_stop():
                raise ScanAborted("scan aborted by the user while placing focus points")
            if self._has_structure(cand):
                if cand.index != spec.index:
                    self.log(
                        "focus-point",
                        f"map point moved from tile {spec.index} to "
                        f"tile {cand.index}: too little structure to focus on",
                    )
                return cand
        self.log("focus-point", f"no structure near tile {spec.index}: map point left out")
        return None

    def _build_map(self, plan: GridPlan) -> FocusMap | None:
        if self.lattice is not None:  # a growing scan: the nodes around the start first
            self.box = self.lattice.box_for([])
            chosen = nearest_tiles(self.lattice.new_nodes(self.box, None), plan.tiles, set())
        else:
            chosen = self._map_candidates(plan)
        order = nearest_neighbour_order(chosen, self.rig.stage.position_mm())
        points, found = self._measure_points(order, plan, {s.index for s in chosen}, None)
        if not points:
            self._no_map_points(len(order))
            return None
        fmap = FocusMap.fit(points, self.cfg.surface, self.rig.focus.limits_um)
        if fmap.surface != self.cfg.surface:
            self.log(
                "focus-map",
                f"only {len(points)} focus points: fitted a {fmap.surface} "
                f"instead of a {self.cfg.surface}",
            )
        self.reference = fmap.reference_score
        self.reference_ratio = self._reference_ratio(found)
        self.source = fmap
        self.log(
            "focus-map",
            f"{fmap.surface} through {len(points)} points, residual rms "
            f"{fmap.rms_residual_um:.3f} um (max {fmap.max_residual_um:.3f} um)",
        )
        return fmap

    def _measure_points(
        self,
        order: Sequence[TileSpec],
        plan: GridPlan,
        taken: set[int],
        grown: FocusMap | None,
    ) -> tuple[list[FocusPoint], list[AutofocusResult]]:
        """Autofocus at each planned point (or the nearest tile there with structure),
        each sweep centred where the points so far put the surface: a plane through them
        while a map is built, the map (``grown``) fitted again with them while it grows.
        The points with a focus found, and their results."""
        points: list[FocusPoint] = []
        found: list[AutofocusResult] = []
        partial = grown
        self.prep.begin(PrepStep.FOCUS_MAP, len(order))
        for planned in order:
            spec = self._structured(planned, plan, taken - {planned.index})
            if spec is None:
                self.prep.advance()
                continue
            taken.add(spec.index)
            self._map_tiles.add(spec.index)
            centre = partial.z_at(spec.x_mm, spec.y_mm) if partial is not None else None
            res = self._focus_point(spec.x_mm, spec.y_mm, centre)
            self.prep.advance()
            if not res.found:
                self.log(
                    "focus-point",
                    f"no focus at ({spec.x_mm:.3f}, {spec.y_mm:.3f}) mm: "
                    f"{res.message}; point left out of the map",
                )
                continue
            point = FocusPoint(spec.x_mm, spec.y_mm, res.z_um, res.score)
            points.append(point)
            found.append(res)
            if grown is not None:
                partial = self._grown_map(grown, points)
            else:
                partial = FocusMap.fit(points, "plane", self.rig.focus.limits_um)
        return points, found

    def _grown_map(self, fmap: FocusMap, points: Sequence[FocusPoint]) -> FocusMap:
        """``fmap`` fitted again with ``points`` added (the requested surface, or the one
        its points allow)."""
        return FocusMap.fit([*fmap.points, *points], self.cfg.surface, fmap.limits_um)

    def extend(self, tiles: Sequence[TileSpec]) -> bool:
        """A growing scan handed out ``tiles`` (a new ring): where they leave the box of map
        points measured, the points of the box that holds them are measured and the surface
        fitted again through every point, so no tile's focus is extrapolated. True when the
        map grew (the stage left the tile path)."""
        fmap, lattice, plan, old = self.source, self.lattice, self._plan, self.box
        if not isinstance(fmap, FocusMap) or lattice is None or plan is None or old is None:
            return False
        box = lattice.box_for(tiles, old)
        if box == old:
            return False
        chosen = nearest_tiles(lattice.new_nodes(box, old), plan.tiles, set(self._map_tiles))
        order = nearest_neighbour_order(chosen, self.rig.stage.position_mm())
        taken = self._map_tiles | {s.index for s in chosen}
        points, _found = self._measure_points(order, plan, taken, fmap)
        self.box = box
        self.source = fmap = self._grown_map(fmap, points)
        self.log(
            "focus-map",
            f"map grown with the scan: {len(points)} of {len(order)} new points found, "
            f"{fmap.surface} through {len(fmap.points)} points, residual rms "
            f"{fmap.rms_residual_um:.3f} um (max {fmap.max_residual_um:.3f} um)",
            points=len(fmap.points),
        )
        return True

    def _reload_lattice(self, saved: dict[str, Any], fmap: FocusMap, plan: GridPlan) -> None:
        """A resumed growing scan: the box of map points it measured (a map saved without
        one was measured over the whole reachable area and never grows)."""
        box = saved.get("lattice_box")
        if self.lattice is None or not isinstance(box, list) or len(box) != 4:
            self.lattice = None
            return
        self.box = (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
        nodes = [(p.x_mm, p.y_mm) for p in fmap.points]
        self._map_tiles = {t.index for t in nearest_tiles(nodes, plan.tiles, set())}

    def _no_map_points(self, n_points: int) -> None:
        """No map point found focus: an error for an explicit map; with ``auto`` the scan
        goes on at the current focus, said loudly (a region of blank glass has nothing to
        focus on, and nothing to count)."""
        text = (
            f"autofocus found focus at none of the {n_points} focus point(s) "
            f"(blank glass, or focus further than {self.cfg.sweep_range_um / 2:g} um away?)"
        )
        if self.cfg.mode == "map":
            raise ScanError(
                f"{text}. Move the region onto the smear, focus by hand, or widen "
                "focus.sweep_range_um"
            )
        self.mode = "fixed"
        self.log("focus-warning", f"{text}; scanning at the current focus, tiles unchecked")

    @staticmethod
    def _reference_ratio(results: list[AutofocusResult]) -> float | None:
        """Median focus ratio at the autofocus points that had enough structure to judge."""
        ratios = [
            r.sharpness.ratio
            for r in results
            if r.sharpness is not None and r.sharpness.snr >= SPARSE_SNR
        ]
        return float(np.median(ratios)) if ratios else None

    def manifest_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "mode": self.mode,
            "requested_mode": self.cfg.mode,
            "metric": self.cfg.metric,
            "wavelength_nm": self.wavelength_nm,
            "reference_score": self.reference,
            "reference_ratio": self.reference_ratio,
            "refocus_threshold": self.cfg.refocus_threshold,
            "depth_of_field_um": DEPTH_OF_FIELD_UM,
            "probe_step_um": PROBE_STEP_UM,
            "probed_tiles": self.probed,
            "refocused_tiles": self.refocused,
            "out_of_focus_tiles": self.flagged,
            "refocus_points": self.refocus_points,
            "corrections": [list(p) for p in self.corrections.points],
        }
        if isinstance(self.source, FocusMap):
            entry["map"] = self.source.to_dict()
            if self.lattice is not None and self.box is not None:
                entry["lattice_box"] = list(self.box)
                entry["lattice_spacing_mm"] = self.lattice.spacing_mm
        elif isinstance(self.source, FixedFocus):
            entry["z_um"] = self.source.z_um
        return entry

    def z_at(self, x_mm: float, y_mm: float) -> float:
        """The engine's focus source: the map (or single focus) plus the local corrections
        found by the per-tile check, inside the focus soft limits."""
        if self.source is None:
            return self.rig.focus.position_um()
        lo, hi = self.rig.focus.limits_um
        z = self.source.z_at(x_mm, y_mm) + self.corrections.offset_um(x_mm, y_mm)
        return min(max(z, lo), hi)

    # ------------------------------------------------------------------ each tile
    def _image(self, tile: Tile) -> np.ndarray:
        img = tile.normalised.get(self.wavelength_nm)
        return img if img is not None else next(iter(tile.normalised.values()))

    def score(self, tile: Tile) -> float:
        return self.metric(self._image(tile))

    def assess(self, tile: Tile) -> bool:
        """Record the tile's sharpness; True when its focus is in doubt (probe it).

        Judged by the focus ratio, which a sparse field shares with a crowded one, against
        the autofocus points' ratio. Blank fields, tiles retaken after a re-focus and tiles
        already checked are never held.
        """
        score = self.score(tile)
        if tile.index in self._retaken:
            from_z, old = self._retaken.pop(tile.index)
            tile.focus = replace(
                old,
                score=score,
                ratio=None,
                structure_snr=None,
                refocused=True,
                out_of_focus=False,
                refocus_from_um=from_z,
            )
            self._record_ratio(tile)
            return False
        tile.focus.score = score
        if tile.focus.check is not None:
            return False
        thr = self.cfg.refocus_threshold
        if self.reference_ratio is None or self.reference_ratio <= 0 or thr <= 0:
            return False
        sh = self._record_ratio(tile)
        if sh.snr < BLANK_SNR:
            tile.focus.out_of_focus, tile.focus.check = False, "blank"
            return False
        if sh.ratio >= thr * self.reference_ratio:
            tile.focus.out_of_focus = False
            return False
        return True

    def _record_ratio(self, tile: Tile) -> Sharpness:
        sh = sharpness(self._image(tile))
        if self.reference_ratio:
            tile.focus.ratio = round(sh.ratio / self.reference_ratio, 4)
        tile.focus.structure_snr = round(sh.snr, 3) if np.isfinite(sh.snr) else None
        return sh

    def probe(self, tile: Tile) -> float | None:
        """Sharpness at z - step and z + step against the tile's own: the offset (um) of the
        fitted peak from the tile's z, 0.0 when the tile is the sharpest of the three, None
        when the sharpness keeps rising past a probe (focus is further away)."""
        rig, nm = self.rig, self.wavelength_nm
        lo, hi = rig.focus.limits_um
        rig.stage.move_to_mm(tile.x_mm, tile.y_mm)
        rig.filter_wheel.move_to_wavelength(nm)
        if rig.camera.exposure_ms != self.exposure_ms:
            rig.camera.set_exposure_ms(self.exposure_ms)
        samples = [(0.0, sharpness(self._image(tile)).detail)]
        for step in (-PROBE_STEP_UM, PROBE_STEP_UM):
            if self.should_stop():
                raise ScanAborted("scan aborted by the user during a focus probe")
            z = min(max(tile.z_um + step, lo), hi)
            if z == tile.z_um:
                continue
            rig.focus.move_to_um(z)
            img = self.normalise(nm, rig.camera.snap().image)
            samples.append((z - tile.z_um, sharpness(img).detail))
        tile.focus.probe = [[round(dz, 3), round(d, 6)] for dz, d in samples]
        best = max(samples, key=lambda s: s[1])
        if best[0] == 0.0:
            return 0.0
        if len(samples) < 3:
            return None
        dz = np.array([s[0] for s in samples])
        vals = np.array([s[1] for s in samples])
        peak = parabola_peak(dz, vals)
        if peak is None or abs(peak) > PROBE_STEP_UM:
            return None
        return peak

    def refocus(self, tile: Tile) -> float | None:
        """Find the local best focus of a doubtful tile: the z to take it again at, or None to
        keep it as it is.

        The probe (z +- 1 um) finds the best focus when it is near; a tile more than a
        quarter depth of field off it is taken again there. When the probe says focus is
        further, a sweep finds it. None comes with ``tile.focus.check``: "probe" (in
        focus), "confirmed" (a sweep found it in focus), "sparse" or "no focus peak"
        (flagged ``out_of_focus``: the analysis leaves it out of the counts).
        """
        offset = self.probe(tile)
        self.probed += 1
        if offset is not None and abs(offset) <= DEPTH_OF_FIELD_UM / 4:
            tile.focus.out_of_focus, tile.focus.check = False, "probe"
            tile.focus.probe_offset_um = round(offset, 3)
            return None
        if offset is not None:
            return self._retake_at(tile, tile.z_um + offset, "probe")
        snr = tile.focus.structure_snr
        if snr is not None and snr < SPARSE_SNR:
            self._flag(tile, "sparse", "too few cells to sweep on")
            return None
        res = self._focus_point(tile.x_mm, tile.y_mm, tile.z_um)
        self.refocused += 1
        if not res.found:
            self._flag(tile, "no focus peak", "no focus peak found")
            return None
        if abs(res.z_um - tile.z_um) <= DEPTH_OF_FIELD_UM / 4:
            tile.focus.out_of_focus, tile.focus.check = False, "confirmed"
            return None
        return self._retake_at(tile, res.z_um, "sweep")

    def _flag(self, tile: Tile, check: str, why: str) -> None:
        self.flagged += 1
        tile.focus.out_of_focus, tile.focus.check = True, check
        ratio = _focus_ratio(tile)
        self.log(
            "out-of-focus",
            f"tile {tile.index}: focus ratio {ratio:.2f} below "
            f"{self.cfg.refocus_threshold:.2f}, {why}; flagged out of focus",
            tile=tile.index,
        )

    def _retake_at(self, tile: Tile, z_um: float, how: str) -> float:
        """Take the tile again at ``z_um``; its neighbours start from the corrected focus."""
        lo, hi = self.rig.focus.limits_um
        z_um = min(max(z_um, lo), hi)
        if self.source is not None:
            base = self.source.z_at(tile.x_mm, tile.y_mm)
            self.corrections.add(tile.x_mm, tile.y_mm, z_um - base)
        self.refocus_points.append([tile.x_mm, tile.y_mm, tile.z_um, z_um])
        self._retaken[tile.index] = (tile.z_um, replace(tile.focus))
        ratio = _focus_ratio(tile)
        self.log(
            "refocus",
            f"tile {tile.index}: focus ratio {ratio:.2f} below "
            f"{self.cfg.refocus_threshold:.2f}; re-focused ({how}) from {tile.z_um:.2f} "
            f"to {z_um:.2f} um, taking it again",
            tile=tile.index,
            z_from_um=tile.z_um,
            z_to_um=z_um,
        )
        return z_um
