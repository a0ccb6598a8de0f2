"""Re-analysing archived scans in parallel on Dask (``uvscope analyze DIR [DIR ...]``).

Each scan folder is one task. A worker loads the models once (``_MODELS``: per worker
process, keyed by the model names and device) and keeps them for every scan it is given;
each task holds the folder's writer lock (``uvscope.io.lock``) while it writes, so a scan being
taken or analysed elsewhere is reported "locked" and left alone. Results are written beside
the previous ones and swapped in whole (``AnalysisOutputs.commit``), so a failed or killed
task leaves the previous analysis as it was. A local cluster by default; any Dask scheduler
(``--scheduler tcp://host:8786``, a dask-jobqueue SLURMCluster's address) works the same.
Progress (tiles per scan) comes back through a Dask queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uvscope.analysis.models import ModelSet
from uvscope.analysis.settings import AnalysisSettings
from uvscope.errors import AnalysisInterrupted, FolderLocked, StorageError, UvscopeError

if TYPE_CHECKING:  # the session loads the analysis stack; a job only names its report writer
    from uvscope.analysis.session import ReportWriter

ProgressFn = Callable[[str, str, int, int], None]  # (scan dir, what, done, total)
_MODELS: dict[Hashable, ModelSet] = {}
_MODELS_LOCK = threading.Lock()
LOADS = {"count": 0}  # model loads in this process (one per worker is the promise)


@dataclass(frozen=True)
class AnalyzeJob:
    """One scan folder to analyse, and how (everything a worker needs; picklable)."""

    scan_dir: str
    settings: AnalysisSettings
    models_key: Hashable  # names + device: workers reuse a ModelSet loaded for the same key
    load_models: Callable[[], ModelSet]
    #: writes each scan's report (``uvscope.report.page.write_report``); None: no report
    report: ReportWriter | None = None
    ome_zarr: bool = False
    #: analyse the usable tiles of a damaged scan, naming the skipped ones (else: refuse)
    skip_damaged: bool = False
    #: let results of fewer tiles replace the previous analysis (``uvscope.analysis.keep``)
    replace: bool = False


@dataclass(frozen=True)
class AnalyzeResult:
    scan_dir: str
    #: "done"; "refused" (damaged inputs, fewer tiles than the kept results: nothing
    #: changed), "locked", "failed" or "interrupted" (previous results kept)
    status: str
    seconds: float = 0.0
    cells: int = 0
    differential: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    worker: str = ""
    #: analysed / planned tile counts and what was skipped (tile or file -> why)
    tiles_analysed: int = 0
    tiles_planned: int = 0
    skipped: dict[str, str] = field(default_factory=dict)


#: set by ``uvscope analyze``'s Ctrl-C handler: the scan analysed in this process stops at
#: the next tile boundary and keeps its previous results
STOP = threading.Event()


def default_loader(
    segmenter: str,
    stainer: str | None,
    classifier: str,
    device: str,
    allow_mismatch: bool = False,
) -> Callable[[], ModelSet]:
    """Loads the named models (refusing a modality mismatch unless ``allow_mismatch``)."""
    from uvscope.analysis.models import load_models

    return partial(
        load_models, segmenter, stainer, classifier, device=device, allow_mismatch=allow_mismatch
    )


def models_for(job: AnalyzeJob) -> ModelSet:
    """The worker's ModelSet for this job's models (loaded on first use, then kept)."""
    with _MODELS_LOCK:
        if job.models_key not in _MODELS:
            _MODELS[job.models_key] = job.load_models()
            LOADS["count"] += 1
        return _MODELS[job.models_key]


def analyse_locked(job: AnalyzeJob, progress: ProgressFn | None = None) -> AnalyzeResult:
    """Analyse one scan folder under its writer lock (never raises for a scan's own trouble:
    the result says what went wrong, so one bad scan does not stop the others)."""
    from uvscope.analysis.keep import ResultsKept
    from uvscope.io.lock import lock_folder
    from uvscope.io.scancheck import DamagedScan
    from uvscope.io.scanfolder import ScanFolder

    t0 = time.monotonic()
    try:
        ScanFolder.open(job.scan_dir)  # not a scan folder: refused before the lock file
        with lock_folder(job.scan_dir, "analyze"):
            summary = _analyse(job, progress)
    except FolderLocked as err:
        return AnalyzeResult(job.scan_dir, "locked", time.monotonic() - t0, message=str(err))
    except (DamagedScan, ResultsKept) as err:
        return AnalyzeResult(job.scan_dir, "refused", time.monotonic() - t0, message=str(err))
    except AnalysisInterrupted as err:
        return AnalyzeResult(job.scan_dir, "interrupted", time.monotonic() - t0, message=str(err))
    except UvscopeError as err:
        status = "refused" if isinstance(err, StorageError) else "failed"
        return AnalyzeResult(job.scan_dir, status, time.monotonic() - t0, message=str(err))
    tiles = summary.get("tiles") or {}
    return AnalyzeResult(
        job.scan_dir,
        "done",
        time.monotonic() - t0,
        summary["cells"],
        summary["differential"],
        str(summary.get("report") or ""),
        tiles_analysed=int(tiles.get("analysed", 0)),
        tiles_planned=int(summary.get("tiles_planned", 0)),
        skipped=dict(tiles.get("skipped") or {}),
    )


def _analyse(job: AnalyzeJob, progress: ProgressFn | None) -> dict[str, Any]:
    from uvscope.analysis.session import (
        AnalysisSession,
        analyse_saved,
        check_saved,
        planned_specs,
    )
    from uvscope.io.scanfolder import ScanFolder

    folder = ScanFolder.open(job.scan_dir)
    plan = planned_specs(folder.plan())
    check = check_saved(job.scan_dir, job.skip_damaged, job.replace)  # before any write
    session = AnalysisSession(
        job.scan_dir,
        models_for(job),
        job.settings,
        plan=plan,
        report=job.report,
        replace=job.replace,
    )
    if progress is not None:  # the end products: rows of each mosaic level written
        session.outputs.progress = lambda what, d, t: progress(job.scan_dir, what, d, t)
    tiles = None if progress is None else lambda d, t: progress(job.scan_dir, "tiles", d, t)
    summary = analyse_saved(session, check, job.skip_damaged, STOP, tiles)
    summary["tiles_planned"] = check.planned
    if job.ome_zarr:
        from uvscope.io.zarr_export import export_ome_zarr

        export_ome_zarr(job.scan_dir)
    return summary


def _dask_task(job: AnalyzeJob, queue_name: str | None) -> AnalyzeResult:
    """The task a Dask worker runs: progress goes to the client through a Dask queue."""
    from distributed import Queue, get_worker

    q = Queue(queue_name) if queue_name else None
    last = [0.0]

    def progress(scan: str, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if q is not None and (done == total or now - last[0] > 0.5):
            last[0] = now
            q.put((scan, what, done, total))

    res = analyse_locked(job, progress)
    return AnalyzeResult(**{**res.__dict__, "worker": get_worker().address})


def run_on_dask(
    jobs: Sequence[AnalyzeJob],
    *,
    workers: int = 2,
    scheduler: str | None = None,
    progress: ProgressFn | None = None,
    on_result: Callable[[AnalyzeResult], None] | None = None,
    processes: bool = True,
) -> list[AnalyzeResult]:
    """Analyse every job on a Dask cluster (local with ``workers`` single-threaded worker
    processes, or the one at ``scheduler``); results in the order of ``jobs``."""
    from distributed import Client, LocalCluster, Queue, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            silence_logs=40,
        )
    client = Client(scheduler if scheduler is not None else cluster)
    qname = f"uvscope-progress-{id(jobs)}-{time.time_ns()}"
    try:
        queue = Queue(qname, client=client)
        futures = [
            client.submit(_dask_task, j, qname, pure=False, key=f"analyze-{n}")
            for n, j in enumerate(jobs)
        ]
        index = {f.key: n for n, f in enumerate(futures)}
        results: list[AnalyzeResult | None] = [None] * len(jobs)
        pending = as_completed(futures)
        while not pending.is_empty():
            if STOP.is_set():  # Ctrl-C: the workers go with the cluster, results untouched
                client.cancel(futures)
                break
            _drain(queue, progress)
            for fut in pending.next_batch(block=False) if pending.has_ready() else []:
                res = fut.result()
                results[index[fut.key]] = res
                if on_result is not None:
                    on_result(res)
            time.sleep(0.1)
        _drain(queue, progress)
        return [
            r if r is not None else _interrupted(jobs[n].scan_dir) for n, r in enumerate(results)
        ]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _interrupted(scan_dir: str) -> AnalyzeResult:
    return AnalyzeResult(
        scan_dir, "interrupted", message="interrupted; the previous results were kept"
    )


def _drain(queue: Any, progress: ProgressFn | None) -> None:
    """Everything queued so far (sized first: a get that times out makes the scheduler log
    an error)."""
    n = queue.qsize()
    if n:
        for item in queue.get(batch=n):
            if progress is not None:
                progress(*item)


def run_here(
    jobs: Sequence[AnalyzeJob],
    progress: ProgressFn | None = None,
    on_result: Callable[[AnalyzeResult], None] | None = None,
) -> list[AnalyzeResult]:
    """One at a time in this process (``--workers 1``, and the reference for the Dask runs)."""
    out = []
    for job in jobs:
        if STOP.is_set():
            out.append(_interrupted(job.scan_dir))
            continue
        res = analyse_locked(job, progress)
        if on_result is not None:
            on_result(res)
        out.append(res)
    return out


def existing_dirs(paths: Sequence[str | Path]) -> list[str]:
    """Absolute scan folder paths, each once, in the order given."""
    seen: dict[str, None] = {}
    for p in paths:
        seen.setdefault(str(Path(p).resolve()), None)
    return list(seen)
