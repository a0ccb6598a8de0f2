"""Counting accuracy against the simulator's ground truth (detection, classes, differential).

Two ways to put tiles under the pipeline, both rendered like the scan engine does (raw frame,
dark and blank-field background, normalised) on a donor the networks never saw:

* ``scan_grid``: a grid of overlapping tiles, counted once through ``CoreRegions``; the truth is
  every WBC whose centroid lies in the scanned area (cells cut by the outer border excluded);
* ``wbc_fields``: separate fields centred (with jitter) on ground-truth WBCs. WBCs are about
  one per field, so this gives many more cells per CPU second; each field is its own one-tile
  scan (cells touching its border are not counted, and not expected).

``match`` pairs predicted and true centroids (Hungarian, within ``max_um``); ``score`` turns the
pairs into recall, precision, a confusion matrix, split/merge counts and the differential error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from uvscope.acquisition.tiles import FocusVerdict, Tile, TileSpec
from uvscope.analysis.cells import CellRecord
from uvscope.analysis.dedup import CoreRegions
from uvscope.analysis.differential import IN_DIFFERENTIAL
from uvscope.analysis.pipeline import TilePipeline
from uvscope.classes import (
    ALL_CLASSES,
    BAND,
    BLAST,
    CLASSES,
    IMMATURE_GRANULOCYTES,
    NRBC,
    PRECLASSES,
    SMUDGE,
)

#: donors the shipped networks were trained or validated on (uvscope.models.simgen.SPLIT)
TRAINING_DONORS = ("healthy", "lymphocytosis", "neutropenia") + tuple(
    f"random-{i}" for i in range(1, 6)
)
#: the pre-class donors the classifier was trained on, at their own slide seeds (simgen: the
#: name's crc32 mod 1000; validated at seed 52, tested at 101): read them at other seeds
PRECLASS_TRAINING_DONORS = (
    "eosinophilia",
    "left-shift",
    "acute-leukaemia-like",
    "viral",
    "thalassaemia-like",
)
VALIDATION_DONORS = ("random-51", "random-52")
LABELS = (*ALL_CLASSES, *PRECLASSES)
#: every true WBC kind the simulator draws (the five classes and the pre-classes)
TRUTH_KINDS = (*CLASSES, *PRECLASSES)


@dataclass(frozen=True)
class Truth:
    """One ground-truth WBC in stage micrometres."""

    x_um: float
    y_um: float
    kind: str  # a CLASSES or PRECLASSES name, or "dead"
    diameter_um: float
    countable: bool = True  # False: cut by the scanned area's border, matched but not scored


@dataclass
class Evaluation:
    """What ``score`` found; ``summary`` prints it."""

    n_truth: int
    n_pred: int
    tp: int
    matched: list[tuple[Truth, CellRecord]] = field(default_factory=list)
    missed: list[Truth] = field(default_factory=list)
    false_pos: list[CellRecord] = field(default_factory=list)
    splits: int = 0  # extra predictions lying inside an already matched true cell
    merges: int = 0  # true cells missed because a prediction matched their touching neighbour
    confusion: dict[str, Counter[str]] = field(default_factory=dict)  # truth -> predicted
    truth_counts: Counter[str] = field(default_factory=Counter)
    pred_counts: Counter[str] = field(default_factory=Counter)

    @property
    def recall(self) -> float:
        return self.tp / self.n_truth if self.n_truth else float("nan")

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else float("nan")

    def recall_by_kind(self) -> dict[str, tuple[int, int, float]]:
        """Per true kind (five classes and dead): (found, truth, detection recall).

        Found means matched to a counted detection, whatever class it was given: a class the
        pipeline never detects is invisible in the pooled recall when the class is rare.
        """
        found = Counter(t.kind for t, _ in self.matched)
        return {
            k: (found[k], self.truth_counts[k], found[k] / self.truth_counts[k])
            if self.truth_counts[k]
            else (0, 0, float("nan"))
            for k in LABELS
        }

    def differential_error_pp(self) -> dict[str, float]:
        """Per class: counted percentage minus true percentage of healthy WBCs (signed, pp);
        the percent base is every white cell in the 100 % (the pre-classes too), as the
        differential's."""
        nt = wbc_in_100(self.truth_counts)
        npred = wbc_in_100(self.pred_counts)
        return {
            c: 100.0 * (self.pred_counts[c] / max(npred, 1) - self.truth_counts[c] / max(nt, 1))
            for c in CLASSES
        }

    def class_accuracy(self) -> float:
        """Fraction of matched cells given their true label (five classes and dead)."""
        n = sum(sum(v.values()) for v in self.confusion.values())
        ok = sum(self.confusion.get(k, Counter())[k] for k in LABELS)
        return ok / n if n else float("nan")

    def summary(self) -> str:
        lines = [
            f"truth {self.n_truth}  predicted {self.n_pred}  matched {self.tp}  "
            f"recall {self.recall:.3f}  precision {self.precision:.3f}",
            f"missed {len(self.missed)}  false positives {len(self.false_pos)} "
            f"(of which splits {self.splits})  merges {self.merges}",
            f"class accuracy of matched cells {self.class_accuracy():.3f}",
            "detection recall by kind: "
            + "  ".join(f"{k} {f}/{n}" for k, (f, n, _) in self.recall_by_kind().items()),
            "confusion (rows truth, columns predicted): "
            + " ".join(f"{k[:5]:>5s}" for k in LABELS),
        ]
        for t in LABELS:
            row = self.confusion.get(t, Counter())
            lines.append(f"  {t:11s}" + "".join(f"{row[p]:6d}" for p in LABELS))
        err = self.differential_error_pp()
        lines.append("differential (healthy WBCs): class  truth  counted  error pp")
        nt = max(wbc_in_100(self.truth_counts), 1)
        npred = max(wbc_in_100(self.pred_counts), 1)
        for c in CLASSES:
            lines.append(
                f"  {c:11s} {100 * self.truth_counts[c] / nt:6.1f} "
                f"{100 * self.pred_counts[c] / npred:6.1f} {err[c]:+7.1f}"
            )
        lines.append(
            f"  dead: truth {self.truth_counts['dead']}, counted {self.pred_counts['dead']}; "
            f"mean |error| {np.mean([abs(v) for v in err.values()]):.1f} pp, "
            f"max {max(abs(v) for v in err.values()):.1f} pp"
        )
        return "\n".join(lines)


def wbc_in_100(counts: Counter[str]) -> int:
    """White cells in the differential's 100 %: the five parts and the pre-classes in it."""
    return sum(counts[c] for c in (*CLASSES, *IN_DIFFERENTIAL))


def preclass_shares(counts: Counter[str]) -> dict[str, float]:
    """The pre-class figures a differential reports, from class counts (truth or counted):
    percent of the white cells in the 100 %, nucleated red cells per 100 of them, smudge
    cells and blasts as counts."""
    n = max(wbc_in_100(counts), 1)
    return {
        "band_percent": 100.0 * counts[BAND] / n,
        "ig_percent": 100.0 * sum(counts[c] for c in IMMATURE_GRANULOCYTES) / n,
        "blast_percent": 100.0 * counts[BLAST] / n,
        "variant_lymphocyte_percent": 100.0 * counts["variant_lymphocyte"] / n,
        "plasma_cell_percent": 100.0 * counts["plasma_cell"] / n,
        "nrbc_per_100_wbc": 100.0 * counts[NRBC] / n,
        "blasts": float(counts[BLAST]),
        "smudge": float(counts[SMUDGE]),
    }


def match(pred_xy: np.ndarray, truth_xy: np.ndarray, max_um: float) -> list[tuple[int, int]]:
    """Pairs (pred, truth) of a minimum-distance one-to-one assignment within ``max_um``."""
    if len(pred_xy) == 0 or len(truth_xy) == 0:
        return []
    d = np.hypot(
        pred_xy[:, None, 0] - truth_xy[None, :, 0], pred_xy[:, None, 1] - truth_xy[None, :, 1]
    )
    cost = np.where(d <= max_um, d, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if d[r, c] <= max_um]


def score(pred: Sequence[CellRecord], truth: Sequence[Truth], max_um: float = 5.0) -> Evaluation:
    """Match counted predictions to true WBCs and tally detection, classes and counts.

    A prediction matched to a non-countable truth (cut by the border) is neither right nor
    wrong. An unmatched prediction inside an already matched true cell is a split; an unmatched
    true cell whose nearest prediction (within its diameter) is matched elsewhere is a merge.
    """
    pxy = np.array([(c.x_um, c.y_um) for c in pred], float).reshape(-1, 2)
    txy = np.array([(t.x_um, t.y_um) for t in truth], float).reshape(-1, 2)
    pairs = match(pxy, txy, max_um)
    p_of_t = {t: p for p, t in pairs}
    t_of_p = {p: t for p, t in pairs}
    ev = Evaluation(0, 0, 0)
    for j, t in enumerate(truth):
        if not t.countable:
            continue
        ev.n_truth += 1
        ev.truth_counts[t.kind] += 1
        if j in p_of_t:
            ev.tp += 1
            c = pred[p_of_t[j]]
            ev.matched.append((t, c))
            ev.confusion.setdefault(t.kind, Counter())[c.cell_class] += 1
        else:
            ev.missed.append(t)
            if len(pxy):
                d = np.hypot(*(pxy - txy[j]).T)
                k = int(np.argmin(d))
                if d[k] < t.diameter_um and k in t_of_p:
                    ev.merges += 1
    for i, c in enumerate(pred):
        if i in t_of_p and not truth[t_of_p[i]].countable:
            continue
        ev.n_pred += 1
        ev.pred_counts[c.cell_class] += 1
        if i in t_of_p:
            continue
        ev.false_pos.append(c)
        if len(txy):
            d = np.hypot(*(txy - pxy[i]).T)
            k = int(np.argmin(d))
            if d[k] < truth[k].diameter_um / 2 + 1.0 and k in p_of_t:
                ev.splits += 1
    return ev


def merge(evals: Sequence[Evaluation]) -> Evaluation:
    """Pool several evaluations (e.g. fields or donors)."""
    out = Evaluation(0, 0, 0)
    for e in evals:
        out.n_truth += e.n_truth
        out.n_pred += e.n_pred
        out.tp += e.tp
        out.matched += e.matched
        out.missed += e.missed
        out.false_pos += e.false_pos
        out.splits += e.splits
        out.merges += e.merges
        out.truth_counts += e.truth_counts
        out.pred_counts += e.pred_counts
        for k, v in e.confusion.items():
            out.confusion.setdefault(k, Counter()).update(v)
    return out


# ---------------------------------------------------------------------- simulated tiles
class SimCamera:
    """Renders normalised tiles of a simulated donor the way the scan engine does."""

    def __init__(self, donor: str, seed: int, shape: tuple[int, int] = (1040, 1392)) -> None:
        from uvscope.config import CameraConfig, SimConfig
        from uvscope.sim.world import SimWorld

        self.world = SimWorld(
            SimConfig(seed=seed, donor=donor), CameraConfig(width_px=shape[1], height_px=shape[0])
        )
        self.shape = shape
        self.px = self.world.pixel_size_um
        self.rng = np.random.default_rng(seed)
        self.exp = self.world.suggest_exposure_ms(260)
        bx, by = self.world.blank_position_mm()
        bz = self.world.best_focus_um(bx, by)
        w = self.world
        self.bg = np.mean(
            [w.render(bx, by, bz, 260, self.exp, self.rng).astype(np.float32) for _ in range(2)],
            axis=0,
        )
        self.dark = w.render(bx, by, bz, None, self.exp, self.rng).astype(np.float32)

    def tile(self, spec: TileSpec) -> Tile:
        z = self.world.best_focus_um(spec.x_mm, spec.y_mm)
        raw = self.world.render(spec.x_mm, spec.y_mm, z, 260, self.exp, self.rng)
        norm = (raw.astype(np.float32) - self.dark) / np.maximum(self.bg - self.dark, 1.0)
        return Tile(
            spec=spec, x_mm=spec.x_mm, y_mm=spec.y_mm, z_um=z, pixel_size_um=self.px,
            raw={}, normalised={260: norm.astype(np.float32)}, exposure_ms={260: self.exp},
            acquired_at_s=0.0,
        )  # fmt: skip

    def truth_in_box(
        self, x0_um: float, y0_um: float, x1_um: float, y1_um: float, margin_um: float = 0.5
    ) -> list[Truth]:
        """WBCs with centroids in the box; those not whole inside it are not countable."""
        return truth_in_box(self.world, (x0_um, y0_um, x1_um, y1_um), margin_um)

    def half_um(self) -> tuple[float, float]:
        return self.shape[1] * self.px / 2, self.shape[0] * self.px / 2


def _analyse(pipe: TilePipeline, tiles: list[Tile], batch: int) -> list[CellRecord]:
    out: list[CellRecord] = []
    for i in range(0, len(tiles), batch):
        for r in pipe.analyse(tiles[i : i + batch]):
            out += r.counted
    return out


def scan_grid(
    pipe: TilePipeline,
    cam: SimCamera,
    rows: int,
    cols: int,
    centre_mm: tuple[float, float] | None = None,
    overlap: float = 0.1,
    batch: int = 2,
) -> Evaluation:
    """A rows x cols scan with overlap, cells counted once; scored against the region's truth."""
    hx, hy = cam.half_um()
    sx, sy = 2 * hx * (1 - overlap) * 1e-3, 2 * hy * (1 - overlap) * 1e-3
    cx, cy = centre_mm or cam.world.smear_centre_mm()
    x0, y0 = cx - sx * (cols - 1) / 2, cy - sy * (rows - 1) / 2
    specs = [
        TileSpec(r * cols + c, r, c, x0 + c * sx, y0 + r * sy)
        for r in range(rows)
        for c in range(cols)
    ]
    keep_outer = pipe.settings.counting.keep_outer_border_cells
    pipe.cores = CoreRegions(specs, cam.shape, cam.px, keep_outer)
    pred = _analyse(pipe, [cam.tile(s) for s in specs], batch)
    truth = cam.truth_in_box(
        x0 * 1e3 - hx, y0 * 1e3 - hy, specs[-1].x_mm * 1e3 + hx, specs[-1].y_mm * 1e3 + hy
    )
    return score(pred, truth)


def wbc_field_centres(
    cam: SimCamera,
    n_fields: int,
    seed: int = 0,
    dead_fraction: float | None = None,
    kinds: Sequence[str] = TRUTH_KINDS,
) -> list[tuple[float, float]]:
    """Centres (stage um) of ``n_fields`` separate fields, each on a different true WBC.

    Centres are drawn from the donor's WBCs near the smear centre (jittered), fields kept apart
    so no cell is scored twice. ``dead_fraction`` (optional) sets the fraction of centres put on
    dead cells (as far as the donor has them): a donor has only 1-10 % dead WBCs, too few to
    measure dead-cell precision and recall on a few fields. ``kinds``: centre only on WBCs of
    these kinds (e.g. one pre-class, to score it on a few fields).
    """
    rng = np.random.default_rng(seed)
    hx, hy = cam.half_um()
    cx, cy = cam.world.smear_centre_mm()
    cand = [c for c in cam.world.cells_in_region(cx - 3, cy - 3, cx + 3, cy + 3) if c.kind in kinds]
    order = [cand[i] for i in rng.permutation(len(cand))]
    n_dead_want = None if dead_fraction is None else int(round(dead_fraction * n_fields))
    if n_dead_want is not None:  # dead cells first, up to the wanted number
        order = [c for c in order if c.dead] + [c for c in order if not c.dead]
    centres: list[tuple[float, float]] = []
    n_dead = 0
    for c in order:
        if n_dead_want is not None and c.dead and n_dead >= n_dead_want:
            continue
        x = c.centroid_mm[0] * 1e3 + rng.uniform(-0.3, 0.3) * hx
        y = c.centroid_mm[1] * 1e3 + rng.uniform(-0.3, 0.3) * hy
        if all(abs(x - a) > 2 * hx + 5 or abs(y - b) > 2 * hy + 5 for a, b in centres):
            centres.append((x, y))
            n_dead += c.dead
        if len(centres) == n_fields:
            break
    return centres


def wbc_fields(
    pipe: TilePipeline,
    cam: SimCamera,
    n_fields: int,
    seed: int = 0,
    batch: int = 2,
    dead_fraction: float | None = None,
    kinds: Sequence[str] = TRUTH_KINDS,
) -> Evaluation:
    """``n_fields`` single-tile scans around different true WBCs (see ``wbc_field_centres``)."""
    hx, hy = cam.half_um()
    centres = wbc_field_centres(cam, n_fields, seed, dead_fraction, kinds)
    evals = []
    pipe.cores = None
    for k in range(0, len(centres), batch):
        chunk = centres[k : k + batch]
        specs = [TileSpec(k + j, 0, k + j, x * 1e-3, y * 1e-3) for j, (x, y) in enumerate(chunk)]
        results = pipe.analyse([cam.tile(s) for s in specs])
        for (x, y), r in zip(chunk, results, strict=True):
            truth = cam.truth_in_box(x - hx, y - hy, x + hx, y + hy)
            evals.append(score(r.counted, truth))
    return merge(evals)


# ---------------------------------------------------------------------- whole scans
@dataclass
class FocusAudit:
    """How far each tile of a scan was from the slide's true best focus (simulated rig)."""

    defocus_um: dict[int, float]  # tile index -> |tile z - best focus at its centre|
    flagged: set[int]  # tiles the scan flagged out of focus (left out of counting)
    half_depth_um: float

    @property
    def tiles(self) -> int:
        return len(self.defocus_um)

    @property
    def within(self) -> int:
        return sum(d <= self.half_depth_um for d in self.defocus_um.values())

    @property
    def counted_blurred(self) -> list[int]:
        """Tiles beyond half the depth of field that were NOT flagged: cells counted blurred."""
        limit = self.half_depth_um
        return sorted(i for i, d in self.defocus_um.items() if d > limit and i not in self.flagged)

    def summary(self) -> str:
        d = np.array(list(self.defocus_um.values()) or [0.0])
        return (
            f"focus: {self.within}/{self.tiles} tiles within {self.half_depth_um:.2f} um of best "
            f"focus (median {np.median(d):.2f} um, max {d.max():.2f} um); flagged out of focus "
            f"{len(self.flagged)}; blurred but counted {len(self.counted_blurred)}"
        )


@dataclass
class ScanEvaluation:
    """A finished scan folder scored against the simulator's truth for the area it covered."""

    counting: Evaluation
    focus: FocusAudit
    tiles_planned: int
    tiles_acquired: int


def _scan_world(manifest: dict[str, Any]) -> Any:
    from uvscope.config import RigConfig
    from uvscope.sim.world import SimWorld

    rig = RigConfig.model_validate(manifest["rig"])
    return SimWorld(rig.sim, rig.camera)


def truth_in_box(
    world: Any,
    box_um: Sequence[float],
    margin_um: float = 0.5,
    keep: Callable[[tuple[float, float]], bool] | None = None,
) -> list[Truth]:
    """True WBCs with centroids in the box (x0, y0, x1, y1 in um) and, with ``keep``, whose
    centroid (mm) it accepts; those not whole inside the box are not countable (the pipeline
    leaves cells cut by the scan's outer border out too)."""
    x0, y0, x1, y1 = box_um
    out = []
    for c in world.cells_in_region(x0 * 1e-3, y0 * 1e-3, x1 * 1e-3, y1 * 1e-3):
        if c.kind not in TRUTH_KINDS or (keep is not None and not keep(c.centroid_mm)):
            continue
        x, y = c.centroid_mm[0] * 1e3, c.centroid_mm[1] * 1e3
        r = c.diameter_um / 2 + margin_um
        whole = x0 + r <= x <= x1 - r and y0 + r <= y <= y1 - r
        out.append(Truth(x, y, "dead" if c.dead else c.kind, c.diameter_um, whole))
    return out


def evaluate_scan_folder(scan_dir: str, max_um: float = 5.0) -> ScanEvaluation:
    """Score ``DIR/analysis/cells.csv`` of a scan taken on the simulated rig against the truth
    of the tiles it acquired, and audit each tile's focus against the slide's true surface."""
    import csv
    from pathlib import Path

    from uvscope.acquisition.autofocus import DEPTH_OF_FIELD_UM
    from uvscope.io.scanfolder import ScanFolder

    folder = ScanFolder.open(scan_dir)
    manifest = folder.read_manifest()
    plan = folder.plan()
    specs = [TileSpec(t.index, t.row, t.col, t.x_mm, t.y_mm) for t in plan.planned_tiles()]
    world = _scan_world(manifest)
    shape = (world.height_px, world.width_px)
    cores = CoreRegions(specs, shape, plan.pixel_size_um)
    records = folder.verified_tiles()
    focus_nm = (manifest.get("focus") or {}).get("wavelength_nm") or plan.wavelengths[0]
    defocus = {
        i: abs(r.z_um - world.best_focus_um(r.x_mm, r.y_mm, focus_nm)) for i, r in records.items()
    }
    flagged = {i for i, r in records.items() if FocusVerdict.from_extra(r.extra).out_of_focus}
    acquired = set(records)
    truth = truth_in_box(
        world, [b * 1e3 for b in plan.covered_mm()], keep=lambda xy: cores.owner(*xy) in acquired
    )
    with open(Path(scan_dir) / "analysis" / "cells.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pred = [_cell_from_row(row) for row in rows]
    ev = score(pred, truth, max_um)
    audit = FocusAudit(defocus, flagged, DEPTH_OF_FIELD_UM / 2)
    return ScanEvaluation(ev, audit, len(specs), len(records))


def _cell_from_row(row: dict[str, str]) -> CellRecord:
    from dataclasses import fields as dc_fields

    kinds = {f.name: f.type for f in dc_fields(CellRecord)}
    values: dict[str, object] = {}
    for name, text in row.items():
        kind = kinds.get(name)
        if kind is None:
            continue
        if kind in ("bool", bool):
            values[name] = text.strip().lower() in ("true", "1")
        elif kind in ("int", int):
            values[name] = int(float(text))
        elif kind in ("float", float):
            values[name] = float(text) if text not in ("", "nan") else float("nan")
        else:
            values[name] = text
    return CellRecord(**values)  # type: ignore[arg-type]
