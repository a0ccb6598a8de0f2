"""One analysis of one scan: the worker, its outputs and the end-of-scan products together.

``AnalysisSession`` is the TileSink the engine feeds during a scan (lossless: the engine waits
when it falls behind); ``analyse_scan_folder`` runs the same session over a saved scan, tile by
tile in index order, which is what ``uvscope analyze`` does. Both end in ``finish``: cell
table, differential, registered mosaics and the report.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.analysis.absorbance import HbCalibration
from uvscope.analysis.differential import Differential
from uvscope.analysis.models import ModelSet, check_pixel_fit
from uvscope.analysis.outputs import AnalysisOutputs
from uvscope.analysis.pipeline import TileResult
from uvscope.analysis.settings import AnalysisSettings
from uvscope.analysis.worker import AnalysisWorker
from uvscope.errors import StorageError
from uvscope.io.scanfolder import ScanFolder


def plan_from_manifest(manifest: dict[str, Any]) -> list[TileSpec]:
    """The planned tiles recorded in a scan manifest."""
    try:
        rows = manifest["plan"]["positions"]
        return [TileSpec(int(i), int(r), int(c), float(x), float(y)) for i, r, c, x, y in rows]
    except (KeyError, TypeError, ValueError) as err:
        raise StorageError(
            f"the scan manifest has no usable plan ({err}); is it complete?"
        ) from err


def read_tiles(folder: ScanFolder, indices: Sequence[int] | None = None) -> Iterator[Tile]:
    """Finished tiles of a saved scan as Tile objects, in index order (normalised images only)."""
    manifest = folder.read_manifest()
    px = float(manifest["plan"]["pixel_size_um"])
    specs = {s.index: s for s in plan_from_manifest(manifest)}
    records = folder.verified_tiles()
    for index in sorted(records if indices is None else set(indices) & set(records)):
        rec = records[index]
        norm = {nm: folder.read_tile(index, nm)[0].astype(np.float32) for nm in rec.wavelengths}
        spec = specs.get(index, TileSpec(index, rec.row, rec.col, rec.x_mm, rec.y_mm))
        yield Tile(
            spec=spec,
            x_mm=rec.x_mm,
            y_mm=rec.y_mm,
            z_um=rec.z_um,
            pixel_size_um=px,
            raw={},
            normalised=norm,
            exposure_ms={int(k): v for k, v in rec.exposure_ms.items()},
            acquired_at_s=rec.acquired_at_s,
            background_id=rec.background_id,
            extra=dict(rec.extra or {}),
        )


class AnalysisSession:
    """A lossless TileSink that analyses a scan into ``DIR/analysis``; ``close`` finishes it."""

    lossless = True

    def __init__(
        self,
        scan_dir: str | Path,
        models: ModelSet,
        settings: AnalysisSettings | None = None,
        plan: Sequence[TileSpec] | None = None,
        report: bool = True,
    ) -> None:
        self.scan_dir = Path(scan_dir)
        self.models = models
        self.settings = settings or AnalysisSettings()
        self.outputs = AnalysisOutputs(
            self.scan_dir,
            settings=self.settings,
            mosaic_pixel_size_um=getattr(models.segmenter, "pixel_size_um", None),
        )
        self.report = report
        self._plan = list(plan) if plan is not None else None
        self.worker: AnalysisWorker | None = None
        #: the sample's red-cell count and whether the scan took a background (from the
        #: manifest, read at the first tile: the engine writes it before)
        self.rbc_per_ul: float | None = None
        self.background_usable = True
        self._smear_configured = False
        self.summary: dict[str, Any] | None = None
        if self._plan is not None:
            self._start()

    def _start(self) -> AnalysisWorker:
        if self.worker is None:
            if self._plan is None:  # the engine wrote the manifest before the first tile
                self._plan = plan_from_manifest(ScanFolder.open(self.scan_dir).read_manifest())
            self.worker = AnalysisWorker(
                self.models, self.settings, self._plan, on_result=self.outputs.write_tile
            )
            # mosaic bands under a failed tile stop waiting for it
            self.worker.error.connect(lambda index, _msg: self.outputs.tile_failed(index))
        return self.worker

    # ---------------------------------------------------------------- TileSink
    def put(self, tile: Tile) -> None:
        worker = self._start()
        if not self._smear_configured:
            self._configure_smear(worker)
        worker.put(tile)

    def _configure_smear(self, worker: AnalysisWorker) -> None:
        """The rig's haemoglobin constants, the sample's red-cell count and whether a
        background was taken, from the scan's manifest."""
        self._smear_configured = True
        try:
            manifest = ScanFolder.open(self.scan_dir).read_manifest()
        except (StorageError, OSError):
            return
        self.rbc_per_ul, hb, self.background_usable = smear_context(manifest)
        smear = worker.pipeline.smear
        if smear is not None:
            smear.haemoglobin = hb
            smear.background_usable = self.background_usable

    def should_stop(self) -> bool:
        return self.worker is not None and self.worker.should_stop()

    def differential(self) -> Differential | None:
        return self.worker.differential() if self.worker is not None else None

    def close(self) -> None:
        """Drain the worker, analyse saved tiles it never saw (resume), write the products."""
        worker = self._start()
        worker.drain()
        folder = ScanFolder.open(self.scan_dir)
        missing = sorted(set(folder.verified_tiles()) - set(worker.results) - set(worker.failed))
        if missing and not worker.should_stop():
            for tile in read_tiles(folder, missing):
                worker.put(tile)
        worker.close()
        self.summary = self.finish(worker.sorted_results(), worker.differential())

    def finish(self, results: list[TileResult], diff: Differential) -> dict[str, Any]:
        out = self.outputs
        cells = out.write_cells(results)
        _, mosaic = out.write_mosaics(results, self.settings)
        doc = out.write_differential(diff, results, self.settings, self.models.provenance, mosaic)
        out.write_cbc(diff, self.rbc_per_ul, self.background_usable)
        out.commit()  # the new analysis replaces the previous one only now, whole
        report_path = None
        if self.report:
            from uvscope.io.report import write_report

            out._report("report", 0, 1)
            report_path = write_report(self.scan_dir)
            out._report("report", 1, 1)
        return {
            "cells": len(cells),
            "differential": doc["differential"],
            "report": str(report_path) if report_path else None,
            "root": str(out.root),
        }


def smear_context(manifest: dict[str, Any]) -> tuple[float | None, HbCalibration, bool]:
    """(the sample's red cells per uL or None, the rig's haemoglobin constants, whether the
    scan recorded a background) from a scan manifest; a manifest written before these
    settings existed gets the defaults."""
    config = manifest.get("config") or {}
    count = (config.get("sample") or {}).get("rbc_per_ul")
    rig = manifest.get("rig") or {}
    try:
        hb = HbCalibration.from_rig(rig)
    except ValueError as err:
        raise StorageError(
            f"the scan manifest's rig haemoglobin constants are not valid: {err}"
        ) from err
    return (float(count) if count else None), hb, bool(manifest.get("backgrounds"))


def analyse_scan_folder(
    scan_dir: str | Path,
    models: ModelSet,
    settings: AnalysisSettings | None = None,
    report: bool = True,
) -> dict[str, Any]:
    """Re-run the analysis on a saved scan (``uvscope analyze``)."""
    folder = ScanFolder.open(scan_dir)
    manifest = folder.read_manifest()
    plan = plan_from_manifest(manifest)
    px = manifest.get("plan", {}).get("pixel_size_um")
    if px:  # refuse networks far from the scan's pixel size before anything is written
        check_pixel_fit(models, float(px))
    session = AnalysisSession(scan_dir, models, settings, plan=plan, report=report)
    for tile in read_tiles(folder):
        session.put(tile)
    session.close()
    assert session.summary is not None
    return session.summary


def session_for_scan(
    scan: Any,
    out_dir: str | Path,
    plan: Sequence[TileSpec] | None = None,
    stain: bool = True,
    pixel_size_um: float | None = None,
) -> AnalysisSession:
    """The analysis sink a scan's ``[analysis]`` section asks for (CLI and GUI alike).

    Models are loaded here, before anything moves, so a missing or mismatched weight file
    stops the scan before it starts: weights whose card declares another modality or input
    than a 260 nm scan, or a pixel size more than ``MAX_RESAMPLE`` from ``pixel_size_um``
    (the rig's; on resume the manifest's when not given), are refused with the checks
    ``uvscope analyze`` makes, unless ``[analysis] allow_model_mismatch`` (then the mismatch
    is recorded in the provenance). ``stain=False`` skips virtual staining (counting
    benchmarks: it changes no count).
    """
    from uvscope.analysis.models import load_models
    from uvscope.analysis.settings import load_settings

    a = scan.analysis
    settings = load_settings(a.settings)
    counting = settings.counting.model_dump()
    if a.stop_after_wbc is not None:
        counting["stop_after_wbc"] = a.stop_after_wbc
    settings = settings.replace(
        counting=counting, inference={**settings.inference.model_dump(), "device": a.device}
    )
    allow = bool(getattr(a, "allow_model_mismatch", False))
    models = load_models(
        a.models, a.models if stain else None, a.models, device=a.device, allow_mismatch=allow
    )
    px = pixel_size_um if pixel_size_um is not None else _saved_pixel_size(out_dir)
    if px:
        check_pixel_fit(models, float(px))
    return AnalysisSession(out_dir, models, settings, plan=plan, report=a.report)


def _saved_pixel_size(out_dir: str | Path) -> float | None:
    """The pixel size in the manifest of a scan being resumed; None for a new folder."""
    try:
        manifest = ScanFolder.open(out_dir).read_manifest()
        return float(manifest["plan"]["pixel_size_um"])
    except (StorageError, OSError, KeyError, TypeError, ValueError):
        return None
