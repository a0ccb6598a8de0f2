"""A reviewer's view of the red cells and platelets of a scan: read back, reviewed, recounted.

The analysis writes ``analysis/cbc.json``, ``rbc.csv`` and ``platelets.csv``; the GUI's "Red
cells and platelets" view reads them here, lets a reviewer reclassify objects (a red cell's
morphology, a platelet against a clump, "not a red cell") and saves the changed objects to
``analysis/reviewed_rbc.csv`` with the same atomic-write discipline and columns as
``reviewed_labels.csv``. The reviewed morphology shares are counted over the same cells as the
automatic ones (whole, unclipped red cells), with the same Wilson intervals. Kept free of Qt.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uvscope.analysis.differential import wilson_interval
from uvscope.analysis.rbc import Shapes
from uvscope.analysis.rbc_morphology import classify
from uvscope.analysis.review import REVIEWED_RBC_CSV, read_reviewed_rows
from uvscope.analysis.settings import CbcSettings
from uvscope.classes import RBC_CLASSES
from uvscope.errors import StorageError
from uvscope.geometry import stage_to_pixel

CBC_JSON = Path("analysis") / "cbc.json"
RBC_CSV = Path("analysis") / "rbc.csv"
PLATELETS_CSV = Path("analysis") / "platelets.csv"
REVIEWED_RBC_FIELDS: tuple[str, ...] = (
    "object_id",
    "tile",
    "x_um",
    "y_um",
    "predicted",
    "reviewed",
)
PLATELET = "platelet"
PLATELET_CLUMP = "platelet_clump"
#: an object the analysis took for a red cell or platelet that is neither (debris, stain, dust)
NOT_RED_CELL = "not_red_cell"
#: every label a reviewer may give, in the gallery's order
RBC_REVIEW_CLASSES: tuple[str, ...] = (*RBC_CLASSES, PLATELET, PLATELET_CLUMP, NOT_RED_CELL)
#: a cell whose class a change of one measure by this much (relative) or less would change is
#: borderline
BORDERLINE_MARGIN = 0.02


@dataclass(frozen=True)
class SmearObject:
    """One counted red cell or platelet as the reviewer sees it."""

    object_id: str
    tile: int
    x_um: float
    y_um: float
    #: the analysis's label: a morphology class, PLATELET or PLATELET_CLUMP
    predicted: str
    #: size of the crop to show (um): the cell's major axis or the platelet's diameter
    size_um: float
    #: smallest relative change of one measure that changes the class (small: least sure)
    margin: float
    summary: str  #: one line of measures for the tooltip

    @property
    def borderline(self) -> bool:
        return self.margin <= BORDERLINE_MARGIN


@dataclass(frozen=True)
class ReviewedObject:
    object_id: str
    tile: int
    predicted: str
    reviewed: str


#: relative changes of one measure tried, smallest first: the first that changes a cell's class
#: is its margin
MARGIN_STEPS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2)
#: the measures the rule set reads, as rbc.csv names them
_RULE_MEASURES: tuple[str, ...] = (
    "area_um2",
    "major_axis_um",
    "minor_axis_um",
    "solidity",
    "pallor_ratio",
    "centre_ratio",
)


def _shapes(m: dict[str, np.ndarray]) -> Shapes:
    zero = np.zeros_like(m["area_um2"])
    return Shapes(
        area_um2=m["area_um2"],
        row=zero,
        col=zero,
        major_um=m["major_axis_um"],
        minor_um=m["minor_axis_um"],
        eccentricity=zero,
        solidity=m["solidity"],
        perimeter_um=zero,
        pallor_ratio=m["pallor_ratio"],
        centre_ratio=m["centre_ratio"],
    )


def rule_margins(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """For each red cell, the smallest relative change of one measure that changes its class.

    The rule set gives no probability; a cell that a 1 or 2 % change of its elongation,
    pallor, centre, solidity or area would move to another class could as well be that class,
    so these are shown first and marked, as the WBC gallery does with low-confidence cells
    (``inf``: no change up to 20 % moves it). The rules themselves are
    ``uvscope.analysis.rbc_morphology.classify``: one definition.
    """
    base = {k: np.array([float(r[k]) for r in rows], np.float64) for k in _RULE_MEASURES}
    margin = np.full(len(rows), np.inf)
    if not rows:
        return margin
    cls = classify(_shapes(base))
    for step in MARGIN_STEPS:
        for key in _RULE_MEASURES:
            for sign in (-1.0, 1.0):
                moved = dict(base)
                moved[key] = base[key] * (1.0 + sign * step)
                changed = (classify(_shapes(moved)) != cls) & np.isinf(margin)
                margin[changed] = step
    return margin


def platelet_margin(integrated_od_um2: float, single_od_um2: float) -> float:
    """How far an object lies from the single/clump boundary (1.5 platelets' OD), relative."""
    return abs(integrated_od_um2 / single_od_um2 / 1.5 - 1.0)


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except OSError as err:
        raise StorageError(f"could not read {path}: {err}") from err


def _classified(row: Mapping[str, str]) -> bool:
    """A whole, classified red cell (overlapped and clipped cells have no class)."""
    return (
        row.get("morph", "") in RBC_CLASSES
        and row.get("overlapped") != "True"
        and row.get("saturated") != "True"
    )


def _rbc_object(row: Mapping[str, str], margin: float) -> SmearObject:
    hb = float(row["hb_pg"]) if row.get("hb_pg") not in (None, "", "nan") else math.nan
    hb_text = f", Hb {hb:.1f} pg" if math.isfinite(hb) else ""
    return SmearObject(
        object_id=row["rbc_id"],
        tile=int(row["tile"]),
        x_um=float(row["x_um"]),
        y_um=float(row["y_um"]),
        predicted=row["morph"],
        size_um=float(row["major_axis_um"]),
        margin=margin,
        summary=(
            f"diameter {float(row['equivalent_diameter_um']):.2f} um, "
            f"axes {float(row['major_axis_um']):.1f} x {float(row['minor_axis_um']):.1f} um, "
            f"pallor {float(row['pallor_ratio']):.2f}{hb_text}"
        ),
    )


def load_smear_objects(
    scan_dir: str | Path, settings: CbcSettings | None = None
) -> list[SmearObject]:
    """The classified red cells and the platelets of a scan's analysis (empty when none)."""
    root = Path(scan_dir)
    single = (settings or CbcSettings()).platelet_single_od_um2
    out: list[SmearObject] = []
    where = root / RBC_CSV
    try:
        rows = [r for r in _rows(where) if _classified(r)]
        out += [_rbc_object(r, float(m)) for r, m in zip(rows, rule_margins(rows), strict=True)]
        where = root / PLATELETS_CSV
        for row in _rows(where):
            iod = float(row["integrated_od_um2"])
            out.append(
                SmearObject(
                    object_id=row["platelet_id"],
                    tile=int(row["tile"]),
                    x_um=float(row["x_um"]),
                    y_um=float(row["y_um"]),
                    predicted=PLATELET_CLUMP if row["clump"] == "True" else PLATELET,
                    size_um=2.0 * math.sqrt(float(row["area_um2"]) / math.pi),
                    margin=platelet_margin(iod, single),
                    summary=(
                        f"area {float(row['area_um2']):.1f} um^2, "
                        f"about {row['platelets_estimated']} platelet(s)"
                    ),
                )
            )
    except (KeyError, ValueError) as err:
        raise StorageError(
            f"{where} is not an analysis table ({err}); re-run `uvscope analyze {root}`"
        ) from err
    return out


def load_cbc(scan_dir: str | Path) -> dict[str, Any] | None:
    """The scan's ``cbc.json``, or None when the scan was analysed without red cells."""
    path = Path(scan_dir) / CBC_JSON
    if not path.exists():
        return None
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StorageError(
            f"{path} is not readable ({err}); re-run `uvscope analyze {path.parent.parent}`"
        ) from err
    return doc


# ---------------------------------------------------------------------------- review file


def load_reviewed_rbc(scan_dir: str | Path) -> dict[str, ReviewedObject]:
    """object id -> reviewed label from a scan folder; empty when it was never reviewed."""
    path = Path(scan_dir) / REVIEWED_RBC_CSV
    rows = read_reviewed_rows(
        path, REVIEWED_RBC_FIELDS, "reviewed red-cell", "object_id", RBC_REVIEW_CLASSES
    )
    return {r[0]: ReviewedObject(*r) for r in rows}


def save_reviewed_rbc(scan_dir: str | Path, reviews: Iterable[tuple[SmearObject, str]]) -> Path:
    """Write the changed objects (object, reviewed label) into the scan folder, atomically."""
    path = Path(scan_dir) / REVIEWED_RBC_CSV
    rows = sorted(reviews, key=lambda r: r[0].object_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(REVIEWED_RBC_FIELDS)
            for obj, reviewed in rows:
                w.writerow(
                    [
                        obj.object_id,
                        obj.tile,
                        f"{obj.x_um:.3f}",
                        f"{obj.y_um:.3f}",
                        obj.predicted,
                        reviewed,
                    ]
                )
        os.replace(tmp, path)
    except OSError as err:
        raise StorageError(
            f"could not save reviewed red cells to {path}: {err}; check the scan folder is writable"
        ) from err
    return path


# ---------------------------------------------------------------------------- recount


def final_labels(objects: Iterable[SmearObject], reviewed: Mapping[str, str]) -> dict[str, str]:
    """object id -> its label after the review (the analysis's where not reviewed)."""
    return {o.object_id: reviewed.get(o.object_id, o.predicted) for o in objects}


def morphology_shares(labels: Iterable[str], confidence: float = 0.95) -> dict[str, dict[str, Any]]:
    """Count, percent and Wilson interval (percent) of each RBC class among red-cell labels.

    Labels outside ``RBC_CLASSES`` (platelets, not a red cell) leave the denominator, as a
    reviewer's "not a red cell" must."""
    counts = dict.fromkeys(RBC_CLASSES, 0)
    for label in labels:
        if label in counts:
            counts[label] += 1
    n = sum(counts.values())
    out: dict[str, dict[str, Any]] = {}
    for name, k in counts.items():
        lo, hi = wilson_interval(k, n, confidence)
        out[name] = {
            "count": k,
            "percent": 100.0 * k / n if n else None,
            "ci_percent": [100.0 * lo, 100.0 * hi],
        }
    return out


def platelet_counts(labels: Iterable[str]) -> dict[str, int]:
    """Single platelets and clumps among final labels."""
    items = list(labels)
    return {
        PLATELET: sum(label == PLATELET for label in items),
        PLATELET_CLUMP: sum(label == PLATELET_CLUMP for label in items),
    }


def shown_objects(
    objects: Iterable[SmearObject], labels: Mapping[str, str], per_class: int
) -> list[SmearObject]:
    """The objects a gallery shows: per current label, the ``per_class`` least sure (a scan's
    thousands of normal cells are counted, not all drawn: memory stays bounded)."""
    shown: dict[str, int] = {}
    out = []
    for o in sorted(objects, key=lambda o: (o.margin, o.object_id)):
        cls = labels.get(o.object_id, o.predicted)
        if shown.get(cls, 0) < per_class:
            shown[cls] = shown.get(cls, 0) + 1
            out.append(o)
    return out


# ---------------------------------------------------------------------------- crops


def crop_at(
    image: np.ndarray,
    x_um: float,
    y_um: float,
    centre_mm: tuple[float, float],
    pixel_size_um: float,
    side_um: float,
    out_px: int,
) -> np.ndarray:
    """A square of ``side_um`` around a stage point of a tile, resampled to ``out_px``
    (nearest pixel; outside the tile the edge repeats)."""
    h, w = image.shape[:2]
    row, col = stage_to_pixel(x_um * 1e-3, y_um * 1e-3, centre_mm, (h, w), pixel_size_um)
    half = side_um / pixel_size_um / 2.0
    steps = np.linspace(-half, half, out_px)
    rows = np.clip(np.round(float(row) + steps).astype(int), 0, h - 1)
    cols = np.clip(np.round(float(col) + steps).astype(int), 0, w - 1)
    crop: np.ndarray = image[np.ix_(rows, cols)]
    return crop


#: side of a thumbnail's square (um): one scale for every red cell (sizes compare at a glance),
#: a closer one for platelets
RBC_CROP_UM = 14.0
PLATELET_CROP_UM = 7.0


def to_gray_u8(transmission: np.ndarray, top: float = 1.1) -> np.ndarray:
    """Normalised transmission (1.0 = clear glass) to 8 bits, one fixed scale for every crop."""
    gray: np.ndarray = (np.clip(transmission, 0.0, top) * (255.0 / top)).astype(np.uint8)
    return gray


def thumbnails(
    scan_dir: str | Path, objects: Iterable[SmearObject], out_px: int = 96
) -> dict[str, np.ndarray]:
    """object id -> (out_px, out_px) uint8 crop of the normalised tile the analysis used,
    read tile by tile from the scan folder (objects of a missing tile get none)."""
    from uvscope.io.scanfolder import ScanFolder

    folder = ScanFolder.open(scan_dir)
    px_um = folder.plan().pixel_size_um
    records = folder.verified_tiles()
    by_tile: dict[int, list[SmearObject]] = {}
    for o in objects:
        by_tile.setdefault(o.tile, []).append(o)
    out: dict[str, np.ndarray] = {}
    for index in sorted(by_tile):
        rec = records.get(index)
        if rec is None or not rec.wavelengths:
            continue
        image = folder.read_tile(index, sorted(rec.wavelengths)[0])[0]
        for o in by_tile[index]:
            side = PLATELET_CROP_UM if o.predicted in (PLATELET, PLATELET_CLUMP) else RBC_CROP_UM
            crop = crop_at(image, o.x_um, o.y_um, (rec.x_mm, rec.y_mm), px_um, side, out_px)
            out[o.object_id] = to_gray_u8(crop)
    return out


@dataclass(frozen=True)
class ReviewedSmear:
    """The red-cell morphology and platelet labels after a review, as the report counts them."""

    #: ``morphology_shares`` of the reviewed labels, in ``cbc.json``'s "morphology" form
    morphology: dict[str, Any]
    #: objects the reviewer reclassified
    changed: int
    #: single platelets and clumps after the review
    platelets: dict[str, int]


def reviewed_smear(scan_dir: str | Path, confidence: float = 0.95) -> ReviewedSmear | None:
    """The scan's red cells and platelets counted with the reviewer's classes (the analysis's
    where not reviewed), or None when they were never reviewed."""
    reviewed = load_reviewed_rbc(scan_dir)
    if not reviewed:
        return None
    objects = load_smear_objects(scan_dir)
    labels = final_labels(objects, {k: v.reviewed for k, v in reviewed.items()})
    shares = morphology_shares(labels.values(), confidence)
    return ReviewedSmear(
        morphology={"classified": sum(c["count"] for c in shares.values()), "classes": shares},
        changed=len(reviewed),
        platelets=platelet_counts(labels.values()),
    )
