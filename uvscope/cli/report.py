"""`uvscope report DIR`: the HTML report of an analysed scan (no networks needed)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("scan_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the report (default: SCAN_DIR/analysis/report.html).",
)
def report(scan_dir: Path, out: Path | None) -> None:
    """Write a self-contained HTML report for the analysed scan in SCAN_DIR."""
    from uvscope.io.report import write_report

    click.echo(str(write_report(scan_dir, out)))
