"""One analysis of one scan: the worker, its outputs and the end-of-scan products together.

``AnalysisSession`` is the TileSink the engine feeds during a scan (lossless: the engine waits
when it falls behind); ``analyse_scan_folder`` runs the same session over a saved scan, tile by
tile in index order, which is what ``uvscope analyze`` does. Both end in ``finish``: cell
table, differential, registered mosaics and the report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from uvscope.acquisition.tiles import FocusVerdict, Tile, TileSpec, without_verdict
from uvscope.analysis.absorbance import HbCalibration
from uvscope.analysis.differential import Differential
from uvscope.analysis.models import ModelSet, check_pixel_fit
from uvscope.analysis.outputs import AnalysisOutputs
from uvscope.analysis.pipeline import TileResult
from uvscope.analysis.settings import AnalysisSettings
from uvscope.analysis.worker import AnalysisWorker
from uvscope.errors import AnalysisInterrupted, StorageError
from uvscope.io.plan_record import PlanRecord
from uvscope.io.scancheck import ScanCheck
from uvscope.io.scanfolder import ScanFolder, TileRecord

#: writes the report of a finished analysis and returns its path (``uvscope.report.page.
#: write_report``): the report room sits above this one, so whoever runs a session hands it in
ReportWriter = Callable[[Path], Path]


def planned_specs(plan: PlanRecord) -> list[TileSpec]:
    """The planned tiles a scan manifest records, as the analysis's tile specs."""
    return [TileSpec(t.index, t.row, t.col, t.x_mm, t.y_mm) for t in plan.planned_tiles()]


def read_tiles(
    folder: ScanFolder,
    indices: Sequence[int] | None = None,
    records: dict[int, TileRecord] | None = None,
) -> Iterator[Tile]:
    """Finished tiles of a saved scan as Tile objects, in index order (normalised images only).

    ``records``: the tiles a ``uvscope.io.scancheck`` check let through (default: the folder's
    verified tiles). A file whose pixels cannot be decoded raises a StorageError naming it.
    """
    plan = folder.plan()
    px = plan.pixel_size_um
    specs = {s.index: s for s in planned_specs(plan)}
    records = folder.verified_tiles() if records is None else records
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
            extra=without_verdict(rec.extra),
            focus=FocusVerdict.from_extra(rec.extra),
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
        report: ReportWriter | None = None,
        replace: bool = False,
    ) -> None:
        """``report``: writes the report once the results are in (None: no report).
        ``replace``: let results of fewer tiles replace the previous analysis (by default
        they are refused and the previous analysis is kept; ``uvscope.analysis.keep``)."""
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
        self.replace = replace
        #: tiles (or files) the analysis left out, by name, with why (``uvscope analyze
        #: --skip-damaged``): written to differential.json, the CLI summary and the report
        self.skipped: dict[str, str] = {}
        #: set by Ctrl-C (``uvscope analyze``): no results are swapped in after it is set
        self.stop: threading.Event | None = None
        if self._plan is not None:
            self._start()

    def _start(self) -> AnalysisWorker:
        if self.worker is None:
            if self._plan is None:  # the engine wrote the manifest before the first tile
                self._plan = planned_specs(ScanFolder.open(self.scan_dir).plan())
            self.worker = AnalysisWorker(
                self.models, self.settings, self._plan, on_result=self.outputs.write_tile
            )
            # mosaic bands under a failed tile stop waiting for it
            self.worker.error.connect(lambda index, _msg: self.outputs.tile_failed(index))
        return self.worker

    def catch_up(self, before_tile: Callable[[Tile, int, int], None] | None = None) -> int:
        """Analyse the tiles a resumed scan saved before, now (not at the end), so its stop
        rule counts their cells: a target-count scan goes on from its count, not from 0.
        Returns how many tiles were queued (they are analysed as the scan runs).

        ``before_tile(tile, queued, total)`` is called before each tile is queued (for
        progress and display; ``put`` blocks while the worker is behind); an exception it
        raises stops the catch-up there."""
        folder = ScanFolder.open(self.scan_dir)
        saved = folder.verified_tiles()
        if not saved:
            return 0
        worker = self._start()
        if not self._smear_configured:
            self._configure_smear(worker)
        for queued, tile in enumerate(read_tiles(folder, sorted(saved), saved)):
            if before_tile is not None:
                before_tile(tile, queued, len(saved))
            worker.put(tile)
        return len(saved)

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
        self._check_stop()
        folder = ScanFolder.open(self.scan_dir)
        saved = set(folder.verified_tiles())
        if not saved:  # the scan saved no tile (it failed at the first): nothing to analyse,
            worker.close()  # and nothing written, so `scan --out` may take the folder over
            return
        skipped = {int(k) for k in self.skipped if k.isdigit()}
        missing = sorted(saved - set(worker.results) - set(worker.failed) - skipped)
        if missing and not worker.should_stop():
            for tile in read_tiles(folder, missing):
                worker.put(tile)
        worker.close()
        self.summary = self.finish(worker.sorted_results(), worker.differential())

    def _check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise AnalysisInterrupted(
                f"interrupted before the new results were complete; the previous results in "
                f"{self.outputs.final_root} were kept"
            )

    def abort(self) -> None:
        """Stop at a tile boundary without results: the tiles queued are finished, the new
        working folder is removed, the previous analysis stays as it was."""
        if self.worker is not None:
            self.worker.close()
        self.outputs.cleanup()

    def finish(self, results: list[TileResult], diff: Differential) -> dict[str, Any]:
        from uvscope.analysis.keep import archive_review, check_replacement, log_replacement

        out = self.outputs
        analysed = sum(not r.failed for r in results)
        previous = check_replacement(self.scan_dir, analysed, self.replace)
        cells = out.write_cells(results)
        _, mosaic = out.write_mosaics(results, self.settings)
        doc = out.write_differential(
            diff, results, self.settings, self.models.provenance, mosaic, skipped=self.skipped
        )
        out.write_cbc(diff, self.rbc_per_ul, self.background_usable)
        check_replacement(self.scan_dir, analysed, self.replace)  # nothing changed meanwhile
        self._check_stop()
        archived = archive_review(self.scan_dir) if previous is not None else None
        if archived is not None:
            ScanFolder(self.scan_dir).log_event(
                "review-archived",
                f"the previous analysis's review was copied to {archived} before replacing it",
            )
        out.commit()  # the new analysis replaces the previous one only now, whole
        log_replacement(self.scan_dir, previous, analysed, self.skipped)
        report_path = None
        if self.report is not None:
            out.end_progress("report", 0, 1)
            report_path = self.report(self.scan_dir)
            out.end_progress("report", 1, 1)
        return {
            "cells": len(cells),
            "tiles": doc["tiles"],
            "differential": doc["differential"],
            "report": str(report_path) if report_path else None,
            "root": str(out.root),
        }


SKIP_HINT = (
    "Restore them, or take them again (`uvscope scan --resume` retakes damaged tiles while the "
    "slide is on the stage), or give --skip-damaged to analyse the other tiles (the skipped "
    "ones are named in differential.json, the summary and the report)"
)


def check_saved(scan_dir: str | Path, skip_damaged: bool, replace: bool) -> ScanCheck:
    """Every input of a re-analysis checked before anything is written (``uvscope.io.
    scancheck``): damaged or mismatched files refused by name (DamagedScan) unless
    ``skip_damaged``; a scan with no usable tile, or fewer than the previous analysis holds
    (without ``replace``), refused too."""
    from uvscope.analysis.keep import check_replacement, check_review_kept
    from uvscope.io.scancheck import check_scan

    folder = ScanFolder.open(scan_dir)
    check = check_scan(folder)
    if check.problems and not skip_damaged:
        raise check.refusal(SKIP_HINT)
    if not check.good:
        why = "; ".join(check.problems[:3]) or "the journal holds no finished tile"
        raise StorageError(
            f"{folder.root}: no tile can be analysed ({check.planned} planned, "
            f"{len(check.journal.records)} in the journal: {why}); nothing was changed"
        )
    check_replacement(folder.root, len(check.good), replace)
    check_review_kept(folder.root, replace)
    return check


def analyse_saved(
    session: AnalysisSession,
    check: ScanCheck,
    skip_damaged: bool = False,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Analyse the tiles ``check`` let through: the one path of ``uvscope analyze``, one scan
    or many on Dask. A tile whose pixels cannot be decoded is refused by name, or with
    ``skip_damaged`` left out and recorded. ``stop`` (set by Ctrl-C) ends the run at the next
    tile boundary (AnalysisInterrupted), the previous results untouched.
    """
    from uvscope.io.scancheck import DamagedScan

    folder = ScanFolder.open(session.scan_dir)
    session.skipped = dict(check.skipped)
    session.stop = stop
    try:
        done = 0
        for index in sorted(check.good):
            if stop is not None and stop.is_set():
                raise AnalysisInterrupted(
                    f"interrupted after {done} of {len(check.good)} tiles; the previous "
                    f"results in {session.outputs.final_root} were kept"
                )
            try:
                tile = next(read_tiles(folder, [index], check.good))
            except StorageError as err:
                if not skip_damaged:
                    raise DamagedScan(f"{err}. {SKIP_HINT}", [str(err)]) from None
                session.skipped[str(index)] = str(err)
                continue
            session.put(tile)
            done += 1
            if progress is not None:
                progress(done, len(check.good))
        session.close()
    except BaseException:
        session.abort()
        raise
    assert session.summary is not None
    return session.summary


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
    report: ReportWriter | None = None,
    skip_damaged: bool = False,
    replace: bool = False,
) -> dict[str, Any]:
    """Re-run the analysis on a saved scan (what ``uvscope analyze`` does, in this process)."""
    record = ScanFolder.open(scan_dir).plan()
    plan = planned_specs(record)
    px = record.recorded_pixel_size_um
    if px:  # refuse networks far from the scan's pixel size before anything is written
        check_pixel_fit(models, px)
    check = check_saved(scan_dir, skip_damaged, replace)
    session = AnalysisSession(scan_dir, models, settings, plan=plan, report=report, replace=replace)
    return analyse_saved(session, check, skip_damaged)


def session_for_scan(
    scan: Any,
    out_dir: str | Path,
    plan: Sequence[TileSpec] | None = None,
    stain: bool = True,
    pixel_size_um: float | None = None,
    report: ReportWriter | None = None,
) -> AnalysisSession:
    """The analysis sink a scan's ``[analysis]`` section asks for (CLI and GUI alike).

    Models are loaded here, before anything moves, so a missing or mismatched weight file
    stops the scan before it starts: weights whose card declares another modality or input
    than a 260 nm scan, or a pixel size more than ``MAX_RESAMPLE`` from ``pixel_size_um``
    (the rig's; on resume the manifest's when not given), are refused with the checks
    ``uvscope analyze`` makes, unless ``[analysis] allow_model_mismatch`` (then the mismatch
    is recorded in the provenance). ``stain=False`` skips virtual staining (counting
    benchmarks: it changes no count). ``report`` writes the report when ``[analysis] report``
    asks for one.
    """
    from uvscope.analysis.models import load_models
    from uvscope.analysis.settings import load_settings

    a = scan.analysis
    settings = load_settings(a.settings)
    counting = settings.counting.model_dump()
    if scan.stop_after_wbc is not None:  # [target] wbc, else [analysis] stop_after_wbc
        counting["stop_after_wbc"] = scan.stop_after_wbc
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
    return AnalysisSession(
        out_dir, models, settings, plan=plan, report=report if a.report else None
    )


def _saved_pixel_size(out_dir: str | Path) -> float | None:
    """The pixel size in the manifest of a scan being resumed; None for a new folder."""
    try:
        return ScanFolder.open(out_dir).plan().pixel_size_um
    except (StorageError, OSError):
        return None
