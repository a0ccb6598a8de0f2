"""`uvscope analyze DIR [DIR ...]`: re-run the analysis on saved scans (other models, other
thresholds), many at once on Dask."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from uvscope.classes import BAND
from uvscope.cli.cbc_summary import print_cbc

console = Console()


def print_differential(diff: dict[str, Any]) -> None:
    """The differential as a table on the terminal."""
    table = Table(title="White-cell differential")
    for col in ("class", "count", "%", "95 % CI"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c in diff["classes"]:
        _class_row(table, c)
    _preclass_rows(table, diff)
    table.add_row("healthy WBCs", str(diff["healthy"]), "", "")
    table.add_row("dead (apart)", str(diff["dead"]), "", "")
    if diff.get("nrbc"):
        table.add_row("NRBC (apart)", str(diff["nrbc"]), f"{diff['nrbc_per_100_wbc']:.1f}/100", "")
    if diff.get("smudge"):
        table.add_row("smudge (apart)", str(diff["smudge"]), "", "")
    console.print(table)
    for f in diff.get("flags") or []:
        style = "bold red" if f.get("critical") else "bold yellow"
        label = "CRITICAL" if f.get("critical") else "flag"
        console.print(f"[{style}]{label}:[/] {f['message']} ({f['rule']})")
    if diff.get("tiles_out_of_focus"):
        console.print(
            f"tiles left out of counting: {diff['tiles_out_of_focus']} "
            f"with {diff.get('cells_out_of_focus', 0)} cells (flagged out of focus "
            "by the scan; in the mosaic, not in the count)"
        )
    if diff.get("stop_rule"):
        console.print(str(diff["stop_rule"]))
    for text in diff.get("warnings") or []:
        console.print(f"[bold yellow]warning:[/] {text}")


def _class_row(table: Table, c: dict[str, Any], label: str | None = None) -> None:
    table.add_row(
        label or c["name"],
        str(c["count"]),
        f"{c['percent']:.1f}",
        f"{c['ci_low_percent']:.1f} - {c['ci_high_percent']:.1f}",
    )


def _preclass_rows(table: Table, diff: dict[str, Any]) -> None:
    """Pre-classified cells in the 100 % and the IG % (rows where some were counted, and the
    band row whenever bands are listed apart)."""
    for c in diff.get("preclasses") or []:
        if c["count"] or c["name"] == BAND:  # bands listed apart even at 0
            _class_row(table, c, c["name"].replace("_", " "))
    ig = diff.get("immature_granulocytes")
    if ig and ig["count"]:
        _class_row(table, ig, "IG (meta+myelo+pro)")


def print_summary(results: list[Any]) -> None:
    """One row per scan: status, cells, healthy WBCs and the five-part differential."""
    from uvscope.classes import CLASSES

    table = Table(title="uvscope analyze")
    for col in ("scan", "status", "cells", "healthy", *CLASSES, "s"):
        table.add_column(col, justify="left" if col in ("scan", "status") else "right")
    for r in results:
        d = r.differential or {}
        pct = {c["name"]: f"{c['percent']:.1f}" for c in d.get("classes", [])}
        table.add_row(
            Path(r.scan_dir).name,
            r.status if r.status == "done" else f"[red]{r.status}[/]",
            str(r.cells) if r.status == "done" else "",
            str(d.get("healthy", "")),
            *(pct.get(c, "") for c in CLASSES),
            f"{r.seconds:.0f}",
        )
    console.print(table)
    for r in results:
        if r.status != "done":
            console.print(f"[red]{r.scan_dir}[/]: {r.message}")
        else:
            print_skipped(r)


@click.command()
@click.argument(
    "scan_dirs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--models",
    "model_set",
    default="default",
    show_default=True,
    help="Registry name used for all three networks unless overridden below.",
)
@click.option("--segmenter", default=None, help="Segmentation model name.")
@click.option("--stainer", default=None, help="Staining model name; 'none' skips staining.")
@click.option("--classifier", default=None, help="Classifier model name.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Analysis settings TOML (thresholds etc.; see AnalysisSettings).",
)
@click.option("--device", default=None, help="auto, cpu or cuda (default: from the settings).")
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@click.option(
    "--allow-model-mismatch",
    is_flag=True,
    help="Run weights whose model card declares another modality or input than a 260 nm "
    "scan (recorded in the report's provenance).",
)
@click.option(
    "--ome-zarr",
    "ome_zarr",
    is_flag=True,
    help="Also export the mosaics as OME-Zarr (analysis/mosaic.ome.zarr, with the "
    "cells as a labels layer in their class colours).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Scans analysed at once on a local Dask cluster, one model load per worker "
    "[default: 1 for one scan, else 2].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="An existing Dask scheduler (tcp://host:8786, e.g. a dask-jobqueue "
    "SLURMCluster's) instead of a local cluster.",
)
@click.option(
    "--skip-damaged",
    is_flag=True,
    help="Analyse the usable tiles of a scan with damaged or mismatched files; every "
    "skipped tile is named in differential.json, the summary and the report (default: "
    "refuse, naming the files).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Let results of fewer tiles than the previous analysis replace it (logged in "
    "events.jsonl; default: keep the previous results and refuse).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON on stdout (no tables)."
)
def analyze(
    scan_dirs: tuple[Path, ...],
    model_set: str,
    segmenter: str | None,
    stainer: str | None,
    classifier: str | None,
    config_path: Path | None,
    device: str | None,
    no_report: bool,
    allow_model_mismatch: bool,
    ome_zarr: bool,
    workers: int | None,
    scheduler: str | None,
    skip_damaged: bool = False,
    replace: bool = False,
    as_json: bool = False,
) -> None:
    """Analyse the saved scans in SCAN_DIRS, each into SCAN_DIR/analysis.

    The same models and settings give the same cells and differential as the run during the
    scan, one scan at a time or many in parallel. Every input is checked first: damaged or
    mismatched files are refused by name (--skip-damaged analyses the rest and names what it
    skipped). Each scan's previous analysis stays until the new one is complete, and is
    replaced only by one of at least as many tiles (--replace overrides); a scan another
    process is writing is left alone ("locked"). Ctrl-C stops at the next tile boundary and
    keeps the previous results.

    Exit status: 0 every scan analysed; 1 a scan failed or was locked; 2 a scan was refused
    (damaged inputs, fewer tiles than its kept results, not a scan folder): nothing of it
    changed; 130 interrupted by Ctrl-C (143 SIGTERM), the previous results kept.
    """
    from uvscope.analysis.reanalyse import AnalyzeJob, default_loader, existing_dirs
    from uvscope.analysis.settings import load_settings
    from uvscope.report.page import write_report

    settings = load_settings(config_path)
    if device is not None:
        settings = settings.replace(inference={**settings.inference.model_dump(), "device": device})
    stn = stainer or model_set
    names = (
        segmenter or model_set,
        None if stn.lower() == "none" else stn,
        classifier or model_set,
        settings.inference.device,
    )
    jobs = [
        AnalyzeJob(
            d,
            settings,
            names,
            default_loader(*names, allow_mismatch=allow_model_mismatch),
            report=None if no_report else write_report,
            ome_zarr=ome_zarr,
            skip_damaged=skip_damaged,
            replace=replace,
        )
        for d in existing_dirs(scan_dirs)
    ]
    n_workers = workers if workers is not None else (1 if len(jobs) == 1 else 2)
    with AnalyzeSignals() as signals:
        results = _run(jobs, n_workers, scheduler, quiet=as_json)
    code = exit_code(results, signals.signum)
    if as_json:
        import dataclasses
        import json

        click.echo(json.dumps([dataclasses.asdict(r) for r in results], indent=2, default=str))
    elif len(results) == 1 and results[0].status != "done":
        r = results[0]
        console.print(f"[red]{r.status}:[/] {r.message}")
    elif len(results) == 1:
        r = results[0]
        print_differential(r.differential)
        print_cbc(console, Path(r.scan_dir) / "analysis")
        print_skipped(r)
        console.print(f"{r.cells} cells -> {Path(r.scan_dir) / 'analysis'}")
        if r.message:
            console.print(f"report: {r.message}")
    else:
        print_summary(results)
    if code:
        raise SystemExit(code)


def exit_code(results: list[Any], signum: int | None) -> int:
    """130/143 interrupted; else 2 when a scan was refused; else 1 when one failed or was
    locked; else 0."""
    if signum is not None or any(r.status == "interrupted" for r in results):
        return 128 + (signum or signal.SIGINT)
    if any(r.status == "refused" for r in results):
        return 2
    return 1 if any(r.status != "done" for r in results) else 0


def print_skipped(r: Any) -> None:
    """The tiles a --skip-damaged run left out, each by name."""
    if not r.skipped:
        return
    console.print(
        f"[bold yellow]warning:[/] {r.tiles_analysed} of {r.tiles_planned} planned tiles "
        f"analysed; skipped {len(r.skipped)}:"
    )
    for what, why in r.skipped.items():
        console.print(f"  {'tile ' + what if what.isdigit() else what}: {why}")


class AnalyzeSignals:
    """Ctrl-C (SIGINT) and SIGTERM during ``analyze``: the scan being analysed here stops at
    the next tile boundary and keeps its previous results; a second signal leaves at once
    (the results still untouched: the new ones are only ever swapped in whole)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> AnalyzeSignals:
        from uvscope.analysis.reanalyse import STOP

        STOP.clear()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: object) -> None:
        from uvscope.analysis.reanalyse import STOP

        if self.signum is not None:  # a second signal: leave now (results are swapped in
            sys.stdout.flush()  # whole, so the previous ones are still there)
            sys.stderr.flush()
            os._exit(128 + self.signum)
        self.signum = signum
        STOP.set()
        console.print(
            f"[yellow]{signal.Signals(signum).name}: stopping at the next tile boundary; "
            "the previous results are kept[/]"
        )


def _run(jobs: list[Any], workers: int, scheduler: str | None, quiet: bool = False) -> list[Any]:
    """Run the jobs here (one worker, no scheduler) or on Dask, with progress bars."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from uvscope.analysis.reanalyse import run_here, run_on_dask

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False, disable=quiet) as bars:
        overall = bars.add_task(f"{len(jobs)} scan(s)", total=len(jobs))
        per_scan: dict[str, Any] = {}

        def progress(scan: str, what: str, done: int, total: int) -> None:
            label = f"{Path(scan).name}: {what}"
            if scan not in per_scan:
                per_scan[scan] = bars.add_task(label, total=total)
            bars.update(per_scan[scan], completed=done, total=total, description=label)

        def finished(res: Any) -> None:
            bars.advance(overall)
            if res.scan_dir in per_scan:
                bars.update(
                    per_scan[res.scan_dir], description=f"{Path(res.scan_dir).name} ({res.status})"
                )

        if workers == 1 and scheduler is None:
            return run_here(jobs, progress, finished)
        return run_on_dask(
            jobs, workers=workers, scheduler=scheduler, progress=progress, on_result=finished
        )
