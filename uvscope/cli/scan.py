"""`uvscope scan` and `uvscope batch`: headless scanning with a progress display."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.events import PrepProgress, ScanProgress, ScanSummary
from uvscope.acquisition.plan import GridPlan
from uvscope.acquisition.prepare import prepare_scan
from uvscope.acquisition.tiles import TileSink
from uvscope.cli.options import rig_option
from uvscope.cli.signals import LeaveNow, SignalStop
from uvscope.config import (
    BatchConfig,
    RigConfig,
    ScanConfig,
    load_rig,
    load_scan,
    load_toml,
    parse_model,
)
from uvscope.drivers.rig import Rig
from uvscope.errors import ConfigError, ScanAborted, StorageError, UvscopeError
from uvscope.io.progress import end_products

M = TypeVar("M", bound=BaseModel)

console = Console(stderr=True)


def _default_out(scan: ScanConfig) -> Path:
    if scan.output_dir is not None:
        return scan.output_dir
    return Path("scans") / f"{scan.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _saved_model(cls: type[M], data: object, source: str) -> M:
    """A config saved in a manifest; damage there is a storage problem, not a typo."""
    if not isinstance(data, dict):
        raise StorageError(f"{source}: not a table; the manifest is damaged")
    try:
        return parse_model(cls, data, source)
    except ConfigError as err:
        raise StorageError(
            f"{err}\n(the manifest is damaged or from another uvscope version)"
        ) from None


def _configs(
    scan_path: Path | None, rig_path: Path | None, out: Path | None, resume: Path | None
) -> tuple[ScanConfig, RigConfig, Path]:
    """(scan, rig, folder): from the files given, or from the folder's manifest on resume."""
    if resume is not None:
        from uvscope.acquisition.reuse import killed_start_text
        from uvscope.io.scanfolder import ScanFolder

        bare = killed_start_text(resume)
        if bare is not None:
            raise StorageError(bare)
        folder = ScanFolder.open(resume)
        scan = _saved_model(
            ScanConfig, folder.manifest_section("config"), f"{folder.manifest_path} config"
        )
        rig_cfg = (
            load_rig(rig_path)
            if rig_path is not None
            else _saved_model(
                RigConfig, folder.manifest_section("rig"), f"{folder.manifest_path} rig"
            )
        )
        return scan, rig_cfg, resume
    scan = load_scan(scan_path)
    return scan, load_rig(rig_path), out or _default_out(scan)


def _run_in_thread(engine: ScanEngine) -> ScanSummary:
    """Run the engine in its thread so the main thread stays free for signals."""
    engine.start()
    while engine.running:
        engine.join(0.2)
    if engine.error is not None:
        raise engine.error
    assert engine.summary is not None
    return engine.summary


def _leave(engine: ScanEngine, stop: SignalStop) -> None:
    """The second signal: wait only until every acquired tile is on disk, then go."""
    console.print("[yellow]stopping without waiting for the analysis...[/]")
    engine.safe_to_exit.wait()
    console.print(
        f"[yellow]interrupted[/]: tiles saved in {engine.out_dir}; "
        f"{engine.resume_hint()} (it also finishes the analysis), or run "
        f"`uvscope analyze {engine.out_dir}`"
    )
    # the analysis thread may be mid-inference: leave without finalisers (torch's native
    # threads abort an orderly interpreter exit); every tile and the manifest are fsynced,
    # and the OS releases the folder's lock
    if threading.current_thread() is threading.main_thread():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(stop.exit_code)


def _print_analysis(sinks: Sequence[object]) -> None:
    for sink in sinks:
        result = getattr(sink, "summary", None)
        if result:
            from uvscope.cli.analyze import print_differential
            from uvscope.cli.cbc_summary import print_cbc

            print_differential(result["differential"])
            print_cbc(console, result["root"])
            console.print(f"cells: {result['cells']}; analysis in {result['root']}")
            if result.get("report"):
                console.print(f"report: [bold]{result['report']}[/]")


def _end_product_bars(progress: Progress) -> Any:
    """A listener for ``end_products.step``: a bar for each end-of-scan step (the last bands
    and files of each mosaic, the report), under the scan's own bar."""
    bars: dict[str, Any] = {}

    def on_step(_scan: str, what: str, done: int, total: int) -> None:
        if what not in bars:
            bars[what] = progress.add_task(f"  {what}", total=total, rate="", eta="")
        progress.update(bars[what], completed=done, total=total)

    return on_step


def _prep_bar(progress: Progress) -> Any:
    """A listener for ``events.preparing``: one "preparing" bar under the scan's bar, showing
    the current step (darks, background, focus points) k of N with its ETA."""
    bar: list[Any] = []

    def on_prep(p: PrepProgress) -> None:
        if not bar:
            bar.append(progress.add_task("", total=p.total, rate="", eta=""))
        progress.update(
            bar[0], description=f"  preparing: {p.text()}", completed=p.done, total=p.total
        )

    return on_prep


def _analysis_overrides(
    scan: ScanConfig, analysis: bool | None, models: str | None, allow: bool
) -> ScanConfig:
    """The scan config with the command line's analysis options applied."""
    a = scan.analysis.model_dump()
    if analysis is not None:
        a["enabled"] = analysis
    if models is not None:
        a["models"] = models
    if allow:
        a["allow_model_mismatch"] = True
    return scan.replace(analysis=a)


def _analysis_sink(scan: ScanConfig, rig: Rig, out_dir: Path, plan: GridPlan) -> TileSink:
    """The analysis of ``uvscope scan``: models loaded (and their modality and pixel size
    checked) before the first tile is acquired; the report written at its end. A
    target-count scan's gets every tile the scan may reach."""
    from uvscope.analysis.session import session_for_scan
    from uvscope.report.page import write_report

    console.print(f"loading analysis models ({scan.analysis.models}, {scan.analysis.device})")
    reach = list(plan.tiles) if scan.target is not None else None  # the overlap rule needs them
    px = rig.pixel_size_um
    sink = session_for_scan(scan, out_dir, reach, pixel_size_um=px, report=write_report)
    for why in sink.models.provenance.get("mismatch_overridden", []):
        console.print(f"[bold yellow]warning:[/] model mismatch overridden: {why}")
    return sink


def _target_overrides(scan: ScanConfig, target: dict[str, Any] | None) -> ScanConfig:
    """The scan config with the command line's target-count options applied (``wbc``,
    ``start_mm``, ``max_area_mm2``; a target count turns the analysis on unless the command
    line turned it off, which the config then refuses)."""
    opts = dict(target or {})
    analysis_off = bool(opts.pop("analysis_off", False))
    given = {k: v for k, v in opts.items() if v is not None}
    if not given:
        return scan
    if "wbc" not in given and scan.target is None:
        raise click.UsageError("--start and --max-area go with --target-wbc (or a [target])")
    base = scan.target.model_dump() if scan.target is not None else {}
    analysis = scan.analysis.model_dump()
    if "wbc" in given and not analysis_off:
        analysis["enabled"] = True
    return scan.replace(target={**base, **given}, analysis=analysis)


def _time_left_column(scan: ScanConfig) -> ProgressColumn:
    """The progress bar's time left: a target-count scan's plan grows ring by ring, so its
    time left is the target estimate's (``_target_estimates``), not the bar's."""
    if scan.target is not None:
        return TextColumn("{task.fields[eta]}")
    return TimeRemainingColumn()


def _target_estimates(engine: ScanEngine, progress: Progress, task: TaskID) -> Any:
    """A target-count scan: its estimate from the density the first tiles show
    (``target_estimate.TargetWatch``), printed when it first exists and when it moves, and
    the time it leaves to the count in the progress bar at every tile."""
    from uvscope.acquisition.target_estimate import TargetWatch, duration_text, folder_bytes

    sink = next((s for s in engine.user_sinks if hasattr(s, "differential")), None)
    target, plan = engine.scan.stop_after_wbc, engine.plan
    if engine.scan.target is None or sink is None or target is None or plan is None:
        return lambda _p: None
    say = progress.console.print
    watch = TargetWatch(target, len(plan.tiles), lambda: folder_bytes(engine.out_dir))

    def on_progress(p: ScanProgress) -> None:
        diff = sink.differential()
        if diff is None:
            return
        est = watch.update(diff.healthy, diff.tiles_analysed, p.done, time.monotonic())
        if est is not None:
            say(f"estimate: {est.text()}")
        if watch.latest is not None:
            progress.update(task, eta=f"~{duration_text(watch.latest.remaining_s)} to go")

    return on_progress


def run_one(
    scan_path: Path | None,
    rig_path: Path | None,
    out: Path | None,
    resume: Path | None,
    quiet: bool = False,
    analysis: bool | None = None,
    accept_rig_change: str | None = None,
    models: str | None = None,
    allow_model_mismatch: bool = False,
    target: dict[str, Any] | None = None,
) -> int:
    """Run one scan with a progress bar; returns the process exit code.

    ``models`` replaces the scan file's ``[analysis] models``; ``allow_model_mismatch`` sets
    its ``allow_model_mismatch`` (so the manifest's config records the override)."""
    from uvscope.drivers.rig import build_rig

    scan, rig_cfg, out_dir = _configs(scan_path, rig_path, out, resume)
    scan = _analysis_overrides(scan, analysis, models, allow_model_mismatch)
    scan = _target_overrides(scan, target)
    rig = build_rig(rig_cfg)
    try:
        engine = prepare_scan(
            rig,
            scan,
            out_dir,
            analysis=_analysis_sink,
            resume=resume is not None,
            accept_rig_change=accept_rig_change,
        )
    except BaseException:
        rig.close()
        raise
    sinks = engine.user_sinks
    from uvscope.logs import attach_scan_log

    attach_scan_log(engine, out_dir)  # OUT/uvscope.log: this run's events and messages
    console.print(f"[bold]uvscope scan[/] on [cyan]{rig_cfg.name}[/] -> {out_dir}")
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        _time_left_column(scan),
        console=console,
        disable=quiet,
    ) as progress:
        task = progress.add_task("preparing", total=None, rate="", eta="")

        def on_state(state: object) -> None:
            progress.update(task, description=str(getattr(state, "value", state)))

        def on_progress(p: ScanProgress) -> None:
            progress.update(
                task,
                completed=p.done,
                total=p.total,
                rate=f"{p.rate_tiles_per_s:.1f} tiles/s",
            )

        on_end_product = _end_product_bars(progress)
        engine.events.preparing.connect(_prep_bar(progress))
        engine.events.state_changed.connect(on_state)
        engine.events.progress.connect(on_progress)
        engine.events.progress.connect(_target_estimates(engine, progress, task))
        end_products.step.connect(on_end_product)
        engine.events.log.connect(lambda msg: progress.console.print(f"[yellow]{msg}[/]"))
        with SignalStop(engine, lambda m: progress.console.print(f"[yellow]{m}[/]")) as stop:
            try:
                summary = _run_in_thread(engine)
            except LeaveNow:
                _leave(engine, stop)
                return stop.exit_code
            except ScanAborted as err:
                console.print(f"[yellow]aborted:[/] {err}")
                return 130
            finally:
                end_products.step.disconnect(on_end_product)
                if engine.safe_to_exit.is_set() and not engine.running:
                    rig.close()
    if summary.status == "interrupted":
        console.print(
            f"[yellow]interrupted[/]: {summary.tiles_done}/{summary.tiles_total} "
            f"tiles saved in {summary.out_dir}; {engine.resume_hint()}"
        )
        _print_analysis(sinks)
        return stop.exit_code
    console.print(
        f"[green]{summary.status}[/]: {summary.tiles_done}/{summary.tiles_total} tiles in "
        f"{summary.wall_s:.1f} s (device time {summary.device_time_s:.1f} s) -> {summary.out_dir}"
    )
    _print_analysis(sinks)
    if summary.errors:
        for message in summary.errors:
            console.print(f"[red]error:[/] {message}")
        return 1
    return 0


@click.command()
@click.option(
    "--config",
    "scan_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Scan TOML (region, overlap, wavelengths, background, ...). "
    "Default: the built-in demo scan.",
)
@rig_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Scan folder to create (default: output_dir from the config, or scans/NAME-TIME).",
)
@click.option(
    "--resume",
    is_eager=True,  # read before --rig, whose default depends on it
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Finish an interrupted scan in this folder without redoing finished tiles.",
)
@click.option(
    "--analysis/--no-analysis",
    default=None,
    help="Analyse tiles as they are acquired (default: [analysis] enabled in the "
    "scan file; on for the built-in demo scan).",
)
@click.option(
    "--accept-rig-change",
    metavar="REASON",
    help="With --resume and --rig: go on although the rig differs from the one the scan "
    "started on (the manifest records REASON, the new rig and the differences).",
)
@click.option(
    "--models",
    "models",
    metavar="NAME|DIR",
    default=None,
    help="Model set for the analysis: a registry name or the folder of a trained set "
    "(replaces [analysis] models; implies --analysis). Weights whose card declares another "
    "modality or input than a 260 nm scan, or a pixel size more than 4x from the rig's, are "
    "refused before the first tile.",
)
@click.option(
    "--allow-model-mismatch",
    is_flag=True,
    help="Run such weights anyway (sets [analysis] allow_model_mismatch; the manifest and "
    "the analysis provenance record it).",
)
@click.option(
    "--target-wbc",
    type=click.IntRange(1, 10_000),
    default=None,
    metavar="N",
    help="Count N WBCs: scan outward from the start point, ring after ring of tiles, until "
    "N healthy WBCs are counted (sets [target] wbc; implies --analysis).",
)
@click.option(
    "--start",
    "start_mm",
    type=(float, float),
    default=None,
    metavar="X Y",
    help="With a target count: stage x y (mm) of the first tile (default: the centre of [region]).",
)
@click.option(
    "--max-area",
    "max_area_mm2",
    type=float,
    default=None,
    metavar="MM2",
    help="With a target count: most slide area to scan, mm^2 (default 25).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the scan's summary (and differential) as JSON on stdout; all else on stderr.",
)
def scan(
    scan_path: Path | None,
    rig_path: Path | None,
    out: Path | None,
    resume: Path | None,
    analysis: bool | None,
    accept_rig_change: str | None,
    models: str | None,
    allow_model_mismatch: bool,
    quiet: bool,
    as_json: bool = False,
    target_wbc: int | None = None,
    start_mm: tuple[float, float] | None = None,
    max_area_mm2: float | None = None,
) -> None:
    """Scan a slide region into overlapping, background-normalised OME-TIFF tiles.

    Writes a scan folder: manifest.json, tiles.jsonl, background/, raw/, tiles/, mosaic/,
    and with analysis analysis/ (cells.csv, differential.json, mosaics, report.html).
    Ctrl-C (or SIGTERM) stops at the next tile boundary, keeps every tile taken and marks
    the folder "interrupted"; a second Ctrl-C stops without waiting for the analysis.
    --resume finishes the scan (and its analysis). One process writes a folder at a time.

    Exit status: 0 done, 1 tiles complete but the analysis failed (see `uvscope analyze`),
    2 bad input or a failed scan (files kept; see --resume), 130 interrupted by Ctrl-C
    (SIGINT), 143 by SIGTERM.

    Every key of the scan file (--config), with types, defaults and limits:
    `uvscope config schema scan`; of the rig file (--rig): `uvscope config schema rig`.
    Each scan folder gets uvscope.log (add -v before `scan` for messages on the terminal).
    """
    if resume is not None and (scan_path is not None or out is not None):
        raise click.UsageError("--resume takes the folder's own config; drop --config/--out")
    if accept_rig_change is not None and resume is None:
        raise click.UsageError("--accept-rig-change goes with --resume")
    if models is not None and resume is not None:
        raise click.UsageError(
            "--resume finishes the analysis with the models the scan started with; drop --models"
        )
    if models is not None and analysis is False:
        raise click.UsageError("--models sets the analysis's networks; drop --no-analysis")
    if models is not None:
        analysis = True
    target = {"wbc": target_wbc, "start_mm": start_mm, "max_area_mm2": max_area_mm2}
    if resume is not None and any(v is not None for v in target.values()):
        raise click.UsageError("--resume takes the folder's own target; drop --target-wbc")
    target["analysis_off"] = analysis is False
    extra = (accept_rig_change, models, allow_model_mismatch, target)
    if as_json:
        sys.exit(_run_json(scan_path, rig_path, out, resume, quiet, analysis, *extra))
    code = run_one(scan_path, rig_path, out, resume, quiet, analysis, *extra)
    if code:
        sys.exit(code)


def _run_json(
    scan_path: Path | None,
    rig_path: Path | None,
    out: Path | None,
    resume: Path | None,
    quiet: bool,
    analysis: bool | None,
    accept_rig_change: str | None = None,
    models: str | None = None,
    allow_model_mismatch: bool = False,
    target: dict[str, Any] | None = None,
) -> int:
    """run_one with its terminal output on stderr, then the folder's results as JSON."""
    import contextlib
    import json

    folder = resume or out or _default_out(load_scan(scan_path))
    with contextlib.redirect_stdout(sys.stderr):
        code = run_one(
            scan_path,
            rig_path,
            None if resume else folder,
            resume,
            quiet,
            analysis,
            accept_rig_change,
            models,
            allow_model_mismatch,
            target,
        )
    mpath = folder / "manifest.json"
    manifest = json.loads(mpath.read_text(encoding="utf-8")) if mpath.exists() else {}
    doc: dict[str, object] = {
        "exit_code": code,
        "folder": str(folder),
        **manifest.get("summary", {}),
    }
    dpath = folder / "analysis" / "differential.json"
    if dpath.exists():
        doc["differential"] = json.loads(dpath.read_text(encoding="utf-8"))["differential"]
    click.echo(json.dumps(doc, indent=2, default=str))
    return code


@click.command()
@click.argument("batch_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--quiet", is_flag=True, help="No progress bars.")
def batch(batch_file: Path, quiet: bool) -> None:
    """Run the scans listed in BATCH_FILE one after another, each in its own folder.

    A failed scan does not stop the batch; the summary lists each result and the exit
    status is non-zero if any scan failed. Ctrl-C (SIGTERM) interrupts the running scan at a
    tile boundary (finish it with `uvscope scan --resume`) and stops the batch: exit 130
    (143).
    """
    cfg = load_toml(BatchConfig, batch_file)
    base = batch_file.parent
    results: list[tuple[str, str]] = []
    code = 0
    for i, entry in enumerate(cfg.scans, 1):
        scan_path = entry.config if entry.config.is_absolute() else base / entry.config
        rig = entry.rig or cfg.rig
        rig_path = None if rig is None else (rig if rig.is_absolute() else base / rig)
        out = entry.out if entry.out is None or entry.out.is_absolute() else base / entry.out
        console.rule(f"scan {i}/{len(cfg.scans)}: {scan_path}")
        try:
            code = run_one(scan_path, rig_path, out, None, quiet)
            results.append((str(scan_path), "ok" if code == 0 else f"exit {code}"))
        except UvscopeError as err:
            console.print(f"[red]failed:[/] {err}")
            results.append((str(scan_path), f"failed: {str(err).splitlines()[0]}"))
            code = 2
        if code in (130, 143):  # Ctrl-C / SIGTERM stops the batch, not just this scan
            results += [(str(e.config), "not started (batch interrupted)") for e in cfg.scans[i:]]
            break
    console.rule("batch summary")
    for path, result in results:
        console.print(f"  {'[green]' if result == 'ok' else '[red]'}{result}[/]  {path}")
    failed = sum(r != "ok" for _, r in results)
    console.print(f"{len(results) - failed} ok, {failed} failed")
    if code in (130, 143):
        sys.exit(code)
    if failed:
        sys.exit(1)
