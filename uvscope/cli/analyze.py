"""`uvscope analyze DIR`: re-run the analysis on a saved scan (other models, other thresholds)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

console = Console()


def print_differential(diff: dict[str, object]) -> None:
    """The differential as a table on the terminal."""
    table = Table(title="White-cell differential")
    for col in ("class", "count", "%", "95 % CI"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c in diff["classes"]:  # type: ignore[union-attr]
        table.add_row(
            c["name"],
            str(c["count"]),
            f"{c['percent']:.1f}",
            f"{c['ci_low_percent']:.1f} - {c['ci_high_percent']:.1f}",
        )
    table.add_row("healthy WBCs", str(diff["healthy"]), "", "")
    table.add_row("dead (apart)", str(diff["dead"]), "", "")
    console.print(table)
    if diff.get("tiles_out_of_focus"):
        console.print(f"tiles left out of counting: {diff['tiles_out_of_focus']} "
                      f"with {diff.get('cells_out_of_focus', 0)} cells (flagged out of focus "
                      "by the scan; in the mosaic, not in the count)")
    if diff.get("stop_rule"):
        console.print(str(diff["stop_rule"]))
    for text in diff.get("warnings") or []:  # type: ignore[union-attr]
        console.print(f"[bold yellow]warning:[/] {text}")


@click.command()
@click.argument("scan_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
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
def analyze(
    scan_dir: Path,
    model_set: str,
    segmenter: str | None,
    stainer: str | None,
    classifier: str | None,
    config_path: Path | None,
    device: str | None,
    no_report: bool,
) -> None:
    """Analyse the saved scan in SCAN_DIR into SCAN_DIR/analysis.

    The same models and settings give the same cells and differential as the run during the
    scan.
    """
    from uvscope.analysis.models import load_models
    from uvscope.analysis.session import analyse_scan_folder
    from uvscope.analysis.settings import load_settings

    settings = load_settings(config_path)
    if device is not None:
        settings = settings.replace(inference={**settings.inference.model_dump(), "device": device})
    stn = stainer or model_set
    models = load_models(
        segmenter or model_set,
        None if stn.lower() == "none" else stn,
        classifier or model_set,
        device=settings.inference.device,
    )
    console.print(f"[bold]uvscope analyze[/] {scan_dir}")
    summary = analyse_scan_folder(scan_dir, models, settings, report=not no_report)
    print_differential(summary["differential"])
    console.print(f"{summary['cells']} cells -> {summary['root']}")
    if summary["report"]:
        console.print(f"report: {summary['report']}")
