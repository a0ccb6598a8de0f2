"""What an analysis leaves in DIR/analysis/: per-tile labels and stained tiles, the cell table,
the differential, the mosaics and (through ``uvscope.io.report``) the HTML report.

Per-tile files are written as each tile is analysed (from the worker thread), so a crash
loses at most the tile in flight; the table, differential and mosaics are written at the end.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from uvscope.analysis.cells import CellRecord
from uvscope.analysis.differential import Differential
from uvscope.analysis.mosaic import Mosaics, build_mosaics
from uvscope.analysis.pipeline import TileResult
from uvscope.analysis.registration import register_tiles
from uvscope.analysis.settings import AnalysisSettings
from uvscope.errors import StorageError
from uvscope.io.mosaic_pyramid import write_pyramid
from uvscope.io.ome import ImageMeta, read_ome_tiff, write_ome_tiff


class AnalysisOutputs:
    """The ``analysis`` sub-folder of a scan folder."""

    def __init__(self, scan_dir: str | Path, fresh: bool = True) -> None:
        """``fresh`` removes a previous analysis first, so no stale tile or mosaic survives."""
        self.scan_dir = Path(scan_dir)
        self.root = self.scan_dir / "analysis"
        if fresh and self.root.exists():
            shutil.rmtree(self.root)
        try:
            for sub in ("labels", "stained", ".gray"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create {self.root}: {err.strerror or err}") from err

    # ---------------------------------------------------------------- paths
    def labels_path(self, index: int) -> Path:
        return self.root / "labels" / f"tile_{index:05d}.tif"

    def stained_path(self, index: int) -> Path:
        return self.root / "stained" / f"tile_{index:05d}.tif"

    def _gray_path(self, index: int) -> Path:
        return self.root / ".gray" / f"tile_{index:05d}.tif"

    @property
    def cells_csv(self) -> Path:
        return self.root / "cells.csv"

    @property
    def differential_json(self) -> Path:
        return self.root / "differential.json"

    def mosaic_path(self, kind: str) -> Path:
        return self.root / f"mosaic_{kind}.ome.tif"

    # ---------------------------------------------------------------- per tile
    def write_tile(self, res: TileResult) -> None:
        """Labels (cells, nuclei), the stained tile and a working copy of the gray tile."""
        if res.labels is None or res.nuclei is None or res.gray is None:
            raise StorageError(f"tile {res.index}: the result carries no images to write")
        meta = ImageMeta(
            pixel_size_um=res.pixel_size_um, x_mm=res.x_mm, y_mm=res.y_mm, name=f"tile {res.index}"
        )
        lab = np.stack([res.labels, res.nuclei]).astype(np.uint16)
        _write_stack(self.labels_path(res.index), lab, meta)
        if res.stained is not None:
            write_ome_tiff(self.stained_path(res.index), res.stained, meta, compression="zlib")
        write_ome_tiff(self._gray_path(res.index), res.gray.astype(np.float32), meta)

    def load_labels(self, index: int) -> np.ndarray | None:
        p = self.labels_path(index)
        return read_ome_tiff(p)[0][0] if p.exists() else None

    def load_stained(self, index: int) -> np.ndarray | None:
        p = self.stained_path(index)
        return read_ome_tiff(p)[0] if p.exists() else None

    def load_gray(self, index: int) -> np.ndarray:
        return read_ome_tiff(self._gray_path(index))[0]

    # ---------------------------------------------------------------- end of scan
    def write_cells(self, results: Sequence[TileResult]) -> list[CellRecord]:
        rows = [c for r in sorted(results, key=lambda r: r.index) for c in r.counted]
        tmp = self.cells_csv.with_suffix(".csv.part")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=CellRecord.columns())
            w.writeheader()
            for c in rows:
                w.writerow({k: _fmt(v) for k, v in c.to_row().items()})
        tmp.replace(self.cells_csv)
        return rows

    def write_mosaics(
        self, results: Sequence[TileResult], settings: AnalysisSettings
    ) -> tuple[Mosaics | None, dict[str, Any]]:
        ok = [r for r in results if not r.failed and self._gray_path(r.index).exists()]
        if not ok:
            return None, {"tiles": 0}
        shape, px = ok[0].shape, ok[0].pixel_size_um
        positions = {r.index: (r.x_mm, r.y_mm) for r in ok}
        origins, pairs = register_tiles(self.load_gray, positions, shape, px, settings.mosaic)
        counted = {r.index: {c.label: c.cell_class for c in r.counted} for r in ok}
        m = build_mosaics(
            origins,
            shape,
            px,
            self.load_gray,
            self.load_stained,
            self.load_labels,
            counted,
            settings.mosaic,
        )
        tile = settings.mosaic.tile_size
        write_pyramid(self.mosaic_path("gray"), m.gray, m.pixel_size_um, name="gray", tile=tile)
        if m.stained is not None:
            write_pyramid(
                self.mosaic_path("stained"),
                m.stained,
                m.pixel_size_um,
                name="virtually stained",
                tile=tile,
            )
        write_pyramid(
            self.mosaic_path("labels"),
            m.labels,
            m.pixel_size_um,
            labels=True,
            name="cells (tile * 10000 + label)",
            tile=tile,
        )
        write_pyramid(
            self.mosaic_path("outlines"),
            m.outlines,
            m.pixel_size_um,
            name="cell outlines by class",
            tile=tile,
        )
        info = {
            "tiles": len(ok),
            "pixel_size_um": m.pixel_size_um,
            "scale": m.scale,
            "origin_px": m.origin_px,
            "pairs": [asdict(p) for p in pairs],
            "pairs_accepted": sum(p.accepted for p in pairs),
            "positions_px": {str(k): [float(v[0]), float(v[1])] for k, v in origins.items()},
        }
        return m, info

    def write_differential(
        self,
        diff: Differential,
        results: Sequence[TileResult],
        settings: AnalysisSettings,
        provenance: dict[str, Any],
        mosaic: dict[str, Any],
    ) -> dict[str, Any]:
        failed = {str(r.index): r.error for r in results if r.failed}
        doc = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "differential": diff.to_dict(),
            "tiles": {
                "analysed": sum(not r.failed for r in results),
                "failed": failed,
                "left_out_of_counting": sorted(
                    r.index for r in results if r.out_of_focus and not r.failed
                ),
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

    def cleanup(self) -> None:
        shutil.rmtree(self.root / ".gray", ignore_errors=True)


def _write_stack(path: Path, stack: np.ndarray, meta: ImageMeta) -> None:
    import tifffile

    tmp = path.with_name(path.name + ".part")
    try:
        tifffile.imwrite(
            tmp,
            stack,
            ome=True,
            compression="zlib",
            photometric="minisblack",
            metadata={
                "axes": "CYX",
                "Channel": {"Name": ["cells", "nuclei"]},
                "PhysicalSizeX": meta.pixel_size_um,
                "PhysicalSizeY": meta.pixel_size_um,
                "Name": meta.name,
            },
        )
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"could not write {path}: {err.strerror or err}") from err


def _sum_removed(results: Sequence[TileResult]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        for k, v in r.removed.items():
            out[k] = out.get(k, 0) + v
    return out


def _fmt(v: object) -> object:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.6g}"
    return v
