"""Reviewed labels of analysed scans as a classifier training set.

Each reviewed cell (``analysis/reviewed_labels.csv``, written by the GUI's gallery) is cut
from its normalised 260 nm tile with the scan's own cell and nucleus labels
(``analysis/labels/``) by the very function the analysis uses (``TilePipeline.crops``), so the
classifier trains on exactly the inputs it will see. The scan folder is the slide: splits keep
each slide's cells together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uvscope.analysis.models import ModelSet
from uvscope.analysis.pipeline import TilePipeline
from uvscope.analysis.postprocess import Instances
from uvscope.analysis.review import REVIEWED_CSV, reviewed_labels
from uvscope.analysis.settings import CLASSES, AnalysisSettings
from uvscope.classes import DEAD, PRECLASSES
from uvscope.errors import ModelError
from uvscope.io.ome import read_ome_tiff, tiff_damage
from uvscope.io.scancheck import check_scan
from uvscope.io.scanfolder import ScanFolder

_CELL_ID = re.compile(r"^t(\d+)c(\d+)$")
#: reviewed classes a classifier learns, in its label order (uvscope.models.arch.CLASS_NAMES)
LABELLED: tuple[str, ...] = (*CLASSES, *PRECLASSES)


@dataclass
class ReviewedCrops:
    """Composite crops (N,3,S,S), class index (-1 dead), dead flag, slide (scan folder name)."""

    x: np.ndarray
    label: np.ndarray
    dead: np.ndarray
    group: list[str]
    n_scans: int


@dataclass(frozen=True)
class _CropSpec:
    """What TilePipeline.crops needs to know about the classifier."""

    crop_size: int
    pixel_size_um: float


def is_scan_folder(path: Path) -> bool:
    return (Path(path) / "manifest.json").exists()


def _check_scan(scan: Path) -> dict[str, object]:
    if not is_scan_folder(scan):
        raise ModelError(f"{scan} is not a scan folder (no manifest.json)")
    labels = reviewed_labels(scan)  # a garbage file named, not a decoding error
    if not labels:
        raise ModelError(
            f"{scan} has no reviewed labels ({REVIEWED_CSV}); review the cell gallery in "
            "`uvscope gui` (reclassify saves each label) or leave this scan out"
        )
    tiles = check_scan(ScanFolder(scan))  # the one rule every reader of a scan follows
    for cid, lab in labels.items():
        if not _CELL_ID.match(cid):
            raise ModelError(f"{scan / REVIEWED_CSV}: cell id {cid!r} is not tTTTTTcCCCC")
        labels_tif = scan / "analysis" / "labels" / f"tile_{lab.tile:05d}.tif"
        damage = tiff_damage(labels_tif)
        if damage is not None:
            raise ModelError(
                f"{labels_tif}: {damage}; the labels of tile {lab.tile} are needed for its "
                f"reviewed cells: re-run `uvscope analyze {scan}` with the models the review "
                "was made on"
            )
        if lab.tile not in tiles.good:
            why = tiles.damaged.get(lab.tile, "not in the scan's journal (tiles.jsonl)")
            raise ModelError(
                f"{scan}: tile {lab.tile}, which holds reviewed cells, cannot be read: {why}; "
                "restore the file or leave this scan out"
            )
    return dict(labels)


def reviewed_crops(
    scans: list[Path],
    crop_size: int,
    pixel_size_um: float,
    settings: AnalysisSettings | None = None,
    wavelength_nm: int = 260,
) -> ReviewedCrops:
    """Crops of every reviewed cell of ``scans``; all scans are checked before any is read."""
    checked = {scan: _check_scan(scan) for scan in scans}
    spec = _CropSpec(crop_size, pixel_size_um)
    pipe = TilePipeline(ModelSet(None, None, spec), settings or AnalysisSettings())  # type: ignore[arg-type]
    xs, labels, group = [], [], []
    for scan, reviewed in checked.items():
        by_tile: dict[int, dict[int, str]] = {}
        for cid, lab in reviewed.items():
            m = _CELL_ID.match(cid)
            assert m is not None
            by_tile.setdefault(int(m.group(1)), {})[int(m.group(2))] = lab.reviewed  # type: ignore[attr-defined]
        folder = ScanFolder(scan)
        for tile, cells in sorted(by_tile.items()):
            gray, meta = folder.read_tile(tile, wavelength_nm)
            stack = read_ome_tiff(scan / "analysis" / "labels" / f"tile_{tile:05d}.tif")[0]
            keep = np.isin(stack[0], list(cells))
            inst = Instances(
                np.where(keep, stack[0], 0).astype(np.int32),
                np.where(keep, stack[1], 0).astype(np.int32),
                {},
            )
            crops, ids = pipe.crops(np.asarray(gray, np.float32), inst, meta.pixel_size_um)
            for crop, i in zip(crops, ids, strict=True):
                name = cells[i]
                if name not in LABELLED and name != DEAD:
                    continue  # artefact, unidentified: nothing to learn a class from
                xs.append(crop)
                labels.append(LABELLED.index(name) if name in LABELLED else -1)
                group.append(scan.name)
    lab_arr = np.array(labels, int)
    return ReviewedCrops(
        np.stack(xs).astype(np.float32), lab_arr, (lab_arr < 0).astype(int), group, len(scans)
    )
