"""A finished scan read back from its folder for review: tiles, cells and the differential.

The worklist and File > Open scan use this: no rig, no networks, only what the scan and its
analysis wrote (manifest, journal, tiles, ``analysis/`` stained tiles, labels, cells.csv and
differential.json). The numpy work runs in a worker thread and arrives as the same display
objects a live scan produces (MosaicTile, per-tile images, CellThumbs), so the review widgets
cannot tell a stored scan from one that just ran.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from scipy import ndimage

from uvscope.analysis.differential import ClassCount
from uvscope.classes import DEAD
from uvscope.config import SampleConfig
from uvscope.errors import StorageError
from uvscope.gui.gallery import CellThumb
from uvscope.gui.priority import lower_current_thread
from uvscope.gui.results import DisplayCell, DisplayDifferential, DisplayTile, cell_box
from uvscope.gui.tile_prep import MosaicTile, crop_thumb, pyramid, result_images, to_gray_u8
from uvscope.io.plan_record import PlanRecord


@dataclass(frozen=True)
class StoredScan:
    """What the window needs before the first tile: where, who, the plan and the counts."""

    folder: Path
    sample: SampleConfig
    status: str
    analysed: bool
    pixel_size_um: float
    fov_mm: tuple[float, float]
    positions_mm: list[tuple[float, float]]
    display_nm: int
    differential: DisplayDifferential | None
    tiles: list[dict[str, Any]] = field(default_factory=list)  #: journal lines, tile order


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StorageError(
            f"{path.parent} holds no uvscope scan ({path.name} is missing): choose the folder "
            "a scan wrote (the one with manifest.json)"
        ) from None
    except (OSError, ValueError) as err:
        raise StorageError(f"could not read {path}: {err}") from err
    if not isinstance(data, dict):
        raise StorageError(f"{path} is not a uvscope file (not a JSON object)")
    return data


def _class_count(row: dict[str, Any]) -> ClassCount:
    return ClassCount(
        str(row["name"]),
        int(row.get("count", 0)),
        float(row.get("percent", 0.0)),
        float(row.get("ci_low_percent", 0.0)),
        float(row.get("ci_high_percent", 0.0)),
    )


def differential_of(doc: dict[str, Any]) -> DisplayDifferential:
    """The view of ``differential.json``'s ``differential`` section (the analysis's
    ``Differential.to_dict``: its ``ClassCount`` rows)."""
    return DisplayDifferential.from_rows(
        [_class_count(c) for c in doc.get("classes", [])],
        [_class_count(c) for c in doc.get("preclasses") or []],
        int(doc.get("dead", 0)),
    )


def _sample(data: dict[str, Any], folder: Path) -> SampleConfig:
    """The manifest's sample identity (its red-cell count too); a damaged one is named."""
    try:
        return SampleConfig.model_validate({k: v for k, v in data.items() if v is not None})
    except ValueError as err:
        raise StorageError(
            f"{folder / 'manifest.json'}: its [sample] is not valid ({err}); the scan cannot be "
            "identified"
        ) from None


def open_stored_scan(folder: str | Path) -> StoredScan:
    """Read a scan folder's manifest and differential (fast: no images); StorageError when
    the folder holds no scan."""
    from uvscope.io.scanfolder import ScanFolder

    folder = Path(folder)
    manifest = _read_json(folder / "manifest.json")
    plan = PlanRecord.from_manifest(manifest, str(folder / "manifest.json"))
    cfg = manifest.get("config") or {}
    diff_path = folder / "analysis" / "differential.json"
    diff = differential_of(_read_json(diff_path)["differential"]) if diff_path.exists() else None
    records = ScanFolder(folder).tile_records()
    wavelengths = list(plan.wavelengths) or [260]
    px = plan.recorded_pixel_size_um or 0.16
    shape = plan.tile_shape_px or (1040, 1392)
    fov = plan.fov_mm or (shape[1] * px / 1e3, shape[0] * px / 1e3)
    return StoredScan(
        folder=folder,
        sample=_sample(cfg.get("sample") or {}, folder),
        status=str(manifest.get("status", "unknown")),
        analysed=diff is not None,
        pixel_size_um=px,
        fov_mm=(float(fov[0]), float(fov[1])),
        # [index, row, column, x_mm, y_mm] per planned tile
        positions_mm=[(t.x_mm, t.y_mm) for t in plan.positions or ()],
        display_nm=260 if 260 in wavelengths else wavelengths[0],
        differential=diff,
        tiles=[vars(records[i]) for i in sorted(records)],
    )


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "yes")


def read_cells(folder: Path) -> dict[int, list[dict[str, str]]]:
    """The counted cells of ``analysis/cells.csv`` by tile (duplicates from overlaps left out,
    as the live gallery leaves them out)."""
    path = folder / "analysis" / "cells.csv"
    if not path.exists():
        return {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise StorageError(f"could not read {path}: {err}") from err
    out: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        if _truthy(row.get("counted", "True")):
            out.setdefault(int(row["tile"]), []).append(row)
    return out


def cell_row(row: dict[str, str], boxes: list[Any]) -> DisplayCell:
    """The view of one cells.csv row (a ``CellRecord`` as written); the box from the tile's
    label image."""
    label = int(row.get("label") or 0)
    bbox = cell_box(boxes, label, float(row["row"]), float(row["col"]))
    probs = {k[2:]: float(v) for k, v in row.items() if k.startswith("p_") and v not in ("", None)}
    cls = DEAD if _truthy(row.get("dead", "False")) else row["cell_class"]
    return DisplayCell(
        row["cell_id"],
        int(row["tile"]),
        cls,
        probs,
        float(row["x_um"]),
        float(row["y_um"]),
        bbox,
        label,
    )


def read_tile(
    scan: StoredScan, record: dict[str, Any], cells: list[dict[str, str]]
) -> tuple[MosaicTile, dict[str, Any] | None, list[CellThumb]]:
    """One stored tile as the mosaic and the gallery show it: gray pyramid, the analysis
    layers (when analysed) and the crops of its counted cells."""
    from uvscope.io.ome import read_ome_tiff
    from uvscope.io.scanfolder import ScanFolder

    index = int(record["index"])
    gray = to_gray_u8(ScanFolder(scan.folder).read_tile(index, scan.display_nm)[0])
    h, w = gray.shape
    tile = MosaicTile(
        index=index,
        x_mm=float(record["x_mm"]),
        y_mm=float(record["y_mm"]),
        width_um=w * scan.pixel_size_um,
        height_um=h * scan.pixel_size_um,
        images={"gray": pyramid(gray)},
        shape=(h, w),
    )
    stained_path = scan.folder / "analysis" / "stained" / f"tile_{index:05d}.tif"
    labels_path = scan.folder / "analysis" / "labels" / f"tile_{index:05d}.tif"
    if not (stained_path.exists() and labels_path.exists()):
        return tile, None, []
    stained = np.asarray(read_ome_tiff(stained_path)[0], np.uint8)
    labels = np.asarray(read_ome_tiff(labels_path)[0])
    if labels.ndim == 3:  # (cells, nuclei): the cell instances are what the cells.csv names
        labels = labels[0]
    boxes = ndimage.find_objects(labels.astype(np.int64))
    rows = [cell_row(c, boxes) for c in cells]
    images = result_images(gray, DisplayTile(index, stained, labels, rows))
    thumbs = [CellThumb(c, crop_thumb(stained, gray, c.bbox)) for c in rows]
    return tile, images, thumbs


def iter_tiles(
    scan: StoredScan,
) -> Iterator[tuple[MosaicTile, dict[str, Any] | None, list[CellThumb]]]:
    cells = read_cells(scan.folder)
    for record in scan.tiles:
        yield read_tile(scan, record, cells.get(int(record["index"]), []))


class StoredScanLoader(QObject):
    """Reads a stored scan's tiles in a worker thread, newest request only: opening another
    scan cancels the one still loading, and its late results are dropped (``generation``)."""

    tile_ready = Signal(int, object)  # generation, MosaicTile
    result_ready = Signal(int, int, object, object)  # generation, index, images, thumbs
    done = Signal(int, int)  # generation, tiles read
    failed = Signal(int, str)  # generation, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="uvscope-open", initializer=lower_current_thread
        )
        self.generation = 0

    def load(self, scan: StoredScan) -> int:
        self.generation += 1
        self._pool.submit(self._run, scan, self.generation, lambda: self.generation)
        return self.generation

    def _run(self, scan: StoredScan, gen: int, current: Callable[[], int]) -> None:
        n = 0
        try:
            for tile, images, thumbs in iter_tiles(scan):
                if current() != gen:
                    return  # another scan was opened: stop reading this one
                self.tile_ready.emit(gen, tile)
                if images is not None:
                    self.result_ready.emit(gen, tile.index, images, thumbs)
                n += 1
        except (StorageError, OSError, ValueError, KeyError) as err:
            self.failed.emit(gen, f"reading {scan.folder} stopped at tile {n}: {err}")
        self.done.emit(gen, n)

    def shutdown(self, wait: bool = True) -> None:
        self.generation += 1
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
