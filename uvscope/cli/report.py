"""`uvscope report DIR`: the HTML report of an analysed scan (no networks needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click

from uvscope.errors import StorageError


def _damaged(path: Path, what: str) -> StorageError:
    return StorageError(
        f"{path} is damaged ({what}); re-run `uvscope analyze "
        f"{path.parent.parent}` to write the analysis again"
    )


def _check_differential(path: Path) -> None:
    """differential.json must be the object the analysis writes (before the report reads it)."""
    if not path.is_file():
        return  # write_report says what to do when there is no analysis
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise _damaged(path, f"not JSON: {err}") from None
    except OSError as err:
        raise StorageError(f"cannot read {path}: {err.strerror or err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("differential"), dict):
        raise _damaged(path, "no 'differential' object")
    classes = doc["differential"].get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, dict) for c in classes):
        raise _damaged(path, "'differential.classes' is not a list of classes")


def _check_cells(path: Path) -> None:
    if not path.exists():
        return
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for _ in csv.DictReader(fh):
                pass
    except (UnicodeDecodeError, csv.Error) as err:
        raise _damaged(path, f"not a UTF-8 CSV table: {err}") from None
    except OSError as err:
        raise _damaged(path, f"cannot read it: {err.strerror or err}") from None


def check_report_inputs(scan_dir: Path) -> None:
    """Every file the report reads, checked first so damage is named, not a traceback."""
    from uvscope.io.scanfolder import ScanFolder

    folder = ScanFolder(scan_dir)
    if folder.manifest_path.exists():
        folder.read_manifest()
    _check_differential(scan_dir / "analysis" / "differential.json")
    _check_cells(scan_dir / "analysis" / "cells.csv")


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
    from uvscope.io.report import write_report

    check_report_inputs(scan_dir)
    try:
        path = write_report(
            scan_dir, out, sample_id=sample_id, operator=operator, slide_id=slide_id
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise StorageError(
            f"{scan_dir / 'analysis'}: differential.json or cells.csv lacks what the report "
            f"needs ({type(err).__name__}: {err}); they are damaged or from another uvscope "
            f"version: re-run `uvscope analyze {scan_dir}`"
        ) from None
    click.echo(str(path))
