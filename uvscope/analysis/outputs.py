"""What an analysis leaves in DIR/analysis/: per-tile labels and stained tiles, the cell table,
the differential and the mosaics (the HTML report beside them is the report room's).

Everything is written into ``DIR/analysis.partial/`` and swapped into place by ``commit`` once
complete, so a previous analysis stays whole until the new one is (a failed or interrupted
re-analysis leaves it untouched). Per-tile files are written as each tile is analysed (from the
worker thread), and the tile goes on to the registration and the analysis mosaics
(``uvscope.analysis.registered_mosaics``); the table, the differential and the last mosaic
bands are written at the end. Tiles that never passed ``write_tile`` are read back from the
scan's own files: nothing is stored twice.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from uvscope.analysis.cbc import CbcAccumulator
from uvscope.analysis.cells import CellRecord
from uvscope.analysis.differential import Differential
from uvscope.analysis.mosaic import KINDS, TileSources
from uvscope.analysis.pipeline import TileResult
from uvscope.analysis.platelets import PlateletRecord
from uvscope.analysis.rbc import RbcRecord
from uvscope.analysis.registered_mosaics import RegisteredMosaics
from uvscope.analysis.settings import AnalysisSettings
from uvscope.errors import StorageError
from uvscope.io.mosaic import MosaicGeometry
from uvscope.io.mosaic_pyramid import ProgressFn
from uvscope.io.ome import ImageMeta, read_ome_tiff, write_ome_tiff
from uvscope.io.progress import end_products_reporter
from uvscope.io.scanfolder import ScanFolder, exchange_paths
from uvscope.localtime import iso_now

PARTIAL = "analysis.partial"
OLD = "analysis.old"


class AnalysisOutputs:
    """The ``analysis`` sub-folder of a scan folder, built beside it and swapped in."""

    def __init__(
        self,
        scan_dir: str | Path,
        fresh: bool = True,
        settings: AnalysisSettings | None = None,
        progress: ProgressFn | None = None,
        mosaic_pixel_size_um: float | None = None,
    ) -> None:
        """``fresh`` starts from an empty working folder, so no stale tile or mosaic survives
        (the previous analysis itself is replaced only by ``commit``)."""
        self.scan_dir = Path(scan_dir)
        self.final_root = self.scan_dir / "analysis"
        self.root = self.scan_dir / PARTIAL
        self.settings = settings or AnalysisSettings()
        self.progress = progress
        self.mosaic_pixel_size_um = mosaic_pixel_size_um  # the networks' pixel size
        #: registration and the analysis mosaics, fed each tile by ``write_tile``
        self.mosaics = RegisteredMosaics(
            {kind: self.mosaic_path(kind) for kind in KINDS},
            lambda: self.folder.plan(),
            TileSources(self.load_gray, self.load_stained, self.load_labels),
            self.settings.mosaic,
            self.root,
            self.end_progress,
            mosaic_pixel_size_um,
        )
        #: running red-cell and platelet figures (rows go to rbc.csv / platelets.csv per tile)
        self.cbc = CbcAccumulator(self.settings.cbc)
        self._smear_lock = threading.Lock()
        self._folder: ScanFolder | None = None
        try:
            old = self.scan_dir / OLD
            if old.exists() and not self.final_root.exists():  # killed mid-swap: put it back
                os.replace(old, self.final_root)
            if fresh and self.root.exists():
                shutil.rmtree(self.root)
            for sub in ("labels", "stained"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create {self.root}: {err.strerror or err}") from err

    # ---------------------------------------------------------------- paths
    def labels_path(self, index: int) -> Path:
        return self.root / "labels" / f"tile_{index:05d}.tif"

    def stained_path(self, index: int) -> Path:
        return self.root / "stained" / f"tile_{index:05d}.tif"

    @property
    def cells_csv(self) -> Path:
        return self.root / "cells.csv"

    @property
    def differential_json(self) -> Path:
        return self.root / "differential.json"

    @property
    def rbc_csv(self) -> Path:
        return self.root / "rbc.csv"

    @property
    def platelets_csv(self) -> Path:
        return self.root / "platelets.csv"

    @property
    def cbc_json(self) -> Path:
        return self.root / "cbc.json"

    def mosaic_path(self, kind: str) -> Path:
        return self.root / f"mosaic_{kind}.ome.tif"

    @property
    def folder(self) -> ScanFolder:
        if self._folder is None:
            self._folder = ScanFolder.open(self.scan_dir)
        return self._folder

    # ---------------------------------------------------------------- per tile
    def write_tile(self, res: TileResult) -> None:
        """Labels (cells, nuclei) and the stained tile; the tile goes on to the mosaics."""
        if res.labels is None or res.nuclei is None or res.gray is None:
            raise StorageError(f"tile {res.index}: the result carries no images to write")
        meta = ImageMeta(
            pixel_size_um=res.pixel_size_um, x_mm=res.x_mm, y_mm=res.y_mm, name=f"tile {res.index}"
        )
        lab = np.stack([res.labels, res.nuclei]).astype(np.uint16)
        write_ome_tiff(
            self.labels_path(res.index), lab, meta, axes="CYX", channel_names=["cells", "nuclei"]
        )
        if res.stained is not None:
            write_ome_tiff(self.stained_path(res.index), res.stained, meta)
        self.mosaics.add(res)
        self.write_smear(res)

    def write_smear(self, res: TileResult) -> None:
        """The tile's counted red cells and platelets: rows appended to rbc.csv and
        platelets.csv, figures into the running ``cbc`` (nothing per object kept in memory)."""
        if res.smear is None:
            return
        with self._smear_lock:
            _append_rows(self.rbc_csv, RbcRecord.columns(), res.smear.counted_rbcs)
            _append_rows(self.platelets_csv, PlateletRecord.columns(), res.smear.counted_platelets)
            self.cbc.add(res.smear)

    def end_progress(self, what: str, done: int, total: int) -> None:
        """End-of-scan progress: to ``progress`` when set (``uvscope analyze``), else on the
        shared event surface (``uvscope.io.progress.end_products``)."""
        (self.progress or end_products_reporter(self.scan_dir))(what, done, total)

    def tile_failed(self, index: int) -> None:
        """A tile whose analysis failed: the mosaic bands under it stop waiting for it."""
        self.mosaics.tile_failed(index)

    def load_labels(self, index: int) -> np.ndarray | None:
        p = self.labels_path(index)
        return read_ome_tiff(p)[0][0] if p.exists() else None

    def load_stained(self, index: int) -> np.ndarray | None:
        p = self.stained_path(index)
        return read_ome_tiff(p)[0] if p.exists() else None

    def load_gray(self, index: int) -> np.ndarray:
        """The tile the networks read: the scan's normalised tile at the analysis wavelength."""
        nm = self.settings.inference.wavelength_nm
        return self.folder.read_tile(index, nm)[0].astype(np.float32, copy=False)

    # ---------------------------------------------------------------- end of scan
    def write_cells(self, results: Sequence[TileResult]) -> list[CellRecord]:
        rows = [c for r in sorted(results, key=lambda r: r.index) for c in r.counted]
        tmp = self.cells_csv.with_suffix(".csv.part")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=CellRecord.columns())
            w.writeheader()
            for c in rows:
                w.writerow({k: _fmt(v, k) for k, v in c.to_row().items()})
        tmp.replace(self.cells_csv)
        return rows

    def write_mosaics(
        self, results: Sequence[TileResult], settings: AnalysisSettings | None = None
    ) -> tuple[MosaicGeometry | None, dict[str, Any]]:
        """Finish the registered, blended, pyramidal gray / stained / label / outline mosaics
        rendered while the tiles were analysed (tiles that never passed ``write_tile`` are
        read back here)."""
        return self.mosaics.finish(results, lambda index: self.stained_path(index).exists())

    def write_differential(
        self,
        diff: Differential,
        results: Sequence[TileResult],
        settings: AnalysisSettings,
        provenance: dict[str, Any],
        mosaic: dict[str, Any],
        skipped: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """``skipped``: tiles (or files) left out unread, each named with why."""
        failed = {str(r.index): r.error for r in results if r.failed}
        doc = {
            "created": iso_now(),
            "differential": diff.to_dict(),
            "tiles": {
                "analysed": sum(not r.failed for r in results),
                "failed": failed,
                "left_out_of_counting": sorted(
                    r.index for r in results if r.out_of_focus and not r.failed
                ),
                "skipped": dict(skipped or {}),
            },
            "removed_by_postprocessing": _sum_removed(results),
            "models": provenance,
            "settings": settings.model_dump(mode="json"),
            "mosaic": mosaic,
        }
        tmp = self.differential_json.with_suffix(".json.part")
        tmp.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
        tmp.replace(self.differential_json)
        return doc

    def write_cbc(
        self, diff: Differential | None, rbc_per_ul: float | None, background_usable: bool
    ) -> dict[str, Any] | None:
        """``cbc.json``: red-cell indices, platelet and WBC estimates, flags (None when the
        analysis ran without red cells and platelets)."""
        if not self.settings.cbc.enabled:
            return None
        with self._smear_lock:
            for path, cols in (
                (self.rbc_csv, RbcRecord.columns()),
                (self.platelets_csv, PlateletRecord.columns()),
            ):
                _append_rows(path, cols, [])  # the header, where no tile had a row
            doc = self.cbc.document(
                diff, rbc_per_ul, background_usable, self.settings.counting.confidence
            )
        doc["created"] = iso_now()
        doc["validated_on"] = (
            "simulated smears only: the haemoglobin calibration and the morphology rules have "
            "not been validated on real deep-UV images"
        )
        crops = {f"{g.kind}__{g.object_id}": g.od for g in self.cbc.gallery}
        if crops:
            np.savez_compressed(self.root / "rbc_gallery.npz", **crops)  # type: ignore[arg-type]
        tmp = self.cbc_json.with_suffix(".json.part")
        tmp.write_text(json.dumps(doc, indent=2, default=_json_default), encoding="utf-8")
        tmp.replace(self.cbc_json)
        return doc

    def commit(self) -> Path:
        """Swap the finished analysis into ``DIR/analysis`` (the previous one is removed only
        after the new one is in place: at every moment one whole analysis is on disk, and
        where the system can exchange two folders atomically, at ``DIR/analysis``)."""
        old = self.scan_dir / OLD
        if self.final_root.exists() and exchange_paths(self.root, self.final_root):
            shutil.rmtree(self.root, ignore_errors=True)  # now the previous analysis
            self.root = self.final_root
            return self.root
        try:
            if old.exists():
                shutil.rmtree(old)
            if self.final_root.exists():
                os.replace(self.final_root, old)
            os.replace(self.root, self.final_root)
        except OSError as err:
            raise StorageError(
                f"could not move the new analysis into {self.final_root}: {err.strerror or err}; "
                f"it is complete in {self.root}"
            ) from err
        shutil.rmtree(old, ignore_errors=True)
        self.root = self.final_root
        return self.root

    def cleanup(self) -> None:
        """Remove an unfinished working folder (the previous analysis stays as it was)."""
        self.mosaics.abort()
        if self.root != self.final_root:
            shutil.rmtree(self.root, ignore_errors=True)


def _append_rows(path: Path, columns: list[str], rows: Sequence[Any]) -> None:
    """Rows (records with ``to_row``) appended to a CSV, its header written first."""
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        if new:
            w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(v, k) for k, v in r.to_row().items()})


def _json_default(v: object) -> object:
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _sum_removed(results: Sequence[TileResult]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        for k, v in r.removed.items():
            out[k] = out.get(k, 0) + v
    return out


#: positions keep 1 nm at any stage position (6 significant digits lost 0.1-1 um at 10-100 mm)
_POSITIONS = frozenset({"x_um", "y_um", "row", "col"})


def _fmt(v: object, key: str = "") -> object:
    if isinstance(v, float):
        if np.isnan(v):
            return ""
        return f"{v:.3f}" if key in _POSITIONS else f"{v:.6g}"
    return v
