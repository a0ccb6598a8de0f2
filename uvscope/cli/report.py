"""`uvscope report DIR`: the HTML report of an analysed scan (no networks needed)."""

from __future__ import annotations

from pathlib import Path

import click

from uvscope.errors import StorageError


@click.command()
@click.argument("scan_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the report (default: SCAN_DIR/analysis/report.html).",
)
@click.option("--sample", "sample_id", default=None, help="Sample id (default: the scan file's).")
@click.option("--slide", "slide_id", default=None, help="Slide id (default: the scan file's).")
@click.option("--operator", default=None, help="Operator (default: the scan file's).")
def report(
    scan_dir: Path,
    out: Path | None,
    sample_id: str | None,
    slide_id: str | None,
    operator: str | None,
) -> None:
    """Write a self-contained HTML report for the analysed scan in SCAN_DIR.

    The report prints on two or three A4 pages; the full provenance (configuration, model
    cards, every reviewed cell) goes to report_provenance.html beside it. Sample id, slide
    id and operator come from the scan file's [sample] table unless given here.
    """
    from uvscope.report.inputs import check_report_inputs, check_report_target
    from uvscope.report.page import write_report

    check_report_inputs(scan_dir)
    check_report_target(out if out is not None else scan_dir / "analysis" / "report.html")
    try:
        path = write_report(
            scan_dir, out, sample_id=sample_id, operator=operator, slide_id=slide_id
        )
    except OSError as err:
        raise StorageError(
            f"cannot write the report {err.filename or out}: {err.strerror or err}; "
            "give --out elsewhere"
        ) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise StorageError(
            f"{scan_dir / 'analysis'}: differential.json or cells.csv lacks what the report "
            f"needs ({type(err).__name__}: {err}); they are damaged or from another uvscope "
            f"version: re-run `uvscope analyze {scan_dir}`"
        ) from None
    click.echo(str(path))
