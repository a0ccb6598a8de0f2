"""`uvscope scan` and `uvscope batch`: headless scanning with a progress display."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from uvscope.cli.options import rig_option
from uvscope.config import BatchConfig, ScanConfig, load_rig, load_scan, load_toml, parse_model
from uvscope.errors import ScanAborted, UvscopeError

console = Console(stderr=True)


def _default_out(scan: ScanConfig) -> Path:
    if scan.output_dir is not None:
        return scan.output_dir
    return Path("scans") / f"{scan.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_one(
    scan_path: Path | None,
    rig_path: Path | None,
    out: Path | None,
    resume: Path | None,
    quiet: bool = False,
    analysis: bool | None = None,
) -> int:
    """Run one scan with a progress bar; returns the process exit code."""
    from uvscope.acquisition.engine import ScanEngine
    from uvscope.drivers.rig import build_rig

    if resume is not None:
        from uvscope.io.scanfolder import ScanFolder

        manifest = ScanFolder.open(resume).read_manifest()
        scan = parse_model(ScanConfig, manifest["config"], f"{resume}/manifest.json config")
        from uvscope.config import RigConfig

        rig_cfg = (
            load_rig(rig_path)
            if rig_path is not None
            else parse_model(RigConfig, manifest["rig"], f"{resume}/manifest.json rig")
        )
        out_dir = resume
    else:
        scan = load_scan(scan_path)
        rig_cfg = load_rig(rig_path)
        out_dir = out or _default_out(scan)
    if analysis is not None:
        scan = scan.replace(analysis={**scan.analysis.model_dump(), "enabled": analysis})
    sinks = []
    if scan.analysis.enabled:
        console.print(f"loading analysis models ({scan.analysis.models}, {scan.analysis.device})")
        from uvscope.analysis.session import session_for_scan

        sinks.append(session_for_scan(scan, out_dir))
    rig = build_rig(rig_cfg)
    engine = ScanEngine(rig, scan, out_dir, sinks=sinks, resume=resume is not None)
    from uvscope.logs import attach_scan_log

    attach_scan_log(engine, out_dir)  # OUT/uvscope.log: this run's events and messages
    console.print(f"[bold]uvscope scan[/] on [cyan]{rig_cfg.name}[/] -> {out_dir}")
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    ) as progress:
        task = progress.add_task("preparing", total=None, rate="")

        def on_state(state: object) -> None:
            progress.update(task, description=str(getattr(state, "value", state)))

        def on_progress(p: object) -> None:
            progress.update(
                task,
                completed=p.done,
                total=p.total,  # type: ignore[attr-defined]
                rate=f"{p.rate_tiles_per_s:.1f} tiles/s",
            )  # type: ignore[attr-defined]

        engine.events.state_changed.connect(on_state)
        engine.events.progress.connect(on_progress)
        engine.events.log.connect(lambda msg: progress.console.print(f"[yellow]{msg}[/]"))
        try:
            summary = engine.run()
        except ScanAborted as err:
            console.print(f"[yellow]aborted:[/] {err}")
            return 130
        finally:
            rig.close()
    console.print(
        f"[green]{summary.status}[/]: {summary.tiles_done}/{summary.tiles_total} tiles in "
        f"{summary.wall_s:.1f} s (device time {summary.device_time_s:.1f} s) -> {summary.out_dir}"
    )
    for sink in sinks:
        result = getattr(sink, "summary", None)
        if result:
            from uvscope.cli.analyze import print_differential

            print_differential(result["differential"])
            console.print(f"cells: {result['cells']}; analysis in {result['root']}")
            if result.get("report"):
                console.print(f"report: [bold]{result['report']}[/]")
    if summary.errors:
        for err in summary.errors:
            console.print(f"[red]error:[/] {err}")
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
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Finish an interrupted scan in this folder without redoing finished tiles.",
)
@click.option(
    "--analysis/--no-analysis",
    default=None,
    help="Analyse tiles as they are acquired (default: [analysis] enabled in the "
    "scan file; on for the built-in demo scan).",
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
    quiet: bool,
    as_json: bool = False,
) -> None:
    """Scan a slide region into overlapping, background-normalised OME-TIFF tiles.

    Writes a scan folder: manifest.json, tiles.jsonl, background/, raw/, tiles/, mosaic/,
    and with analysis analysis/ (cells.csv, differential.json, mosaics, report.html).
    Exit status: 0 done, 1 tiles complete but the analysis failed (see `uvscope analyze`),
    2 bad input or a failed scan (files kept; see --resume), 130 aborted.

    Every key of the scan file (--config), with types, defaults and limits:
    `uvscope config schema scan`; of the rig file (--rig): `uvscope config schema rig`.
    Each scan folder gets uvscope.log (add -v before `scan` for messages on the terminal).
    """
    if resume is not None and (scan_path is not None or out is not None):
        raise click.UsageError("--resume takes the folder's own config; drop --config/--out")
    if as_json:
        sys.exit(_run_json(scan_path, rig_path, out, resume, quiet, analysis))
    code = run_one(scan_path, rig_path, out, resume, quiet, analysis)
    if code:
        sys.exit(code)


def _run_json(
    scan_path: Path | None,
    rig_path: Path | None,
    out: Path | None,
    resume: Path | None,
    quiet: bool,
    analysis: bool | None,
) -> int:
    """run_one with its terminal output on stderr, then the folder's results as JSON."""
    import contextlib
    import json

    folder = resume or out or _default_out(load_scan(scan_path))
    with contextlib.redirect_stdout(sys.stderr):
        code = run_one(scan_path, rig_path, None if resume else folder, resume, quiet, analysis)
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
    status is non-zero if any scan failed.
    """
    cfg = load_toml(BatchConfig, batch_file)
    base = batch_file.parent
    results: list[tuple[str, str]] = []
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
    console.rule("batch summary")
    for path, result in results:
        console.print(f"  {'[green]' if result == 'ok' else '[red]'}{result}[/]  {path}")
    failed = sum(r != "ok" for _, r in results)
    console.print(f"{len(results) - failed} ok, {failed} failed")
    if failed:
        sys.exit(1)
