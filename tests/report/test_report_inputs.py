"""`uvscope report` never writes a report from missing or damaged results, and says where it
cannot write (issue 24: exit 0 with cells.csv or manifest.json deleted, or a 'zombiecyte')."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.report._report_fixture import make_scan
from uvscope.cli import main

CLASSES = ["neutrophil", "neutrophil", "lymphocyte", "monocyte", "dead"]


def _report(scan: Path, *extra: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["report", str(scan), *extra])
    assert "Traceback" not in r.output
    return r.exit_code, r.output


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    return make_scan(tmp_path, CLASSES, images=False)


def test_an_undamaged_analysis_is_reported(scan: Path) -> None:
    code, out = _report(scan)
    assert code == 0 and (scan / "analysis" / "report.html").exists(), out


@pytest.mark.parametrize(
    "name", ["manifest.json", "analysis/cells.csv", "analysis/differential.json"]
)
def test_a_missing_input_is_refused_by_name(scan: Path, name: str) -> None:
    (scan / name).unlink()
    code, out = _report(scan)
    assert code == 2 and Path(name).name in out
    assert not (scan / "analysis" / "report.html").exists()


def _rewrite_cells(scan: Path, change) -> None:
    path = scan / "analysis" / "cells.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    change(rows)
    fields = list(rows[0])
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def test_an_unknown_class_is_refused(scan: Path) -> None:
    _rewrite_cells(scan, lambda rows: rows[0].update(cell_class="zombiecyte"))
    code, out = _report(scan)
    assert code == 2 and "cells.csv" in out and "zombiecyte" in out


def test_a_table_that_disagrees_with_the_differential_is_refused(scan: Path) -> None:
    def counted(rows: list[dict]) -> None:
        for r in rows:
            r.update(counted="True", dead=str(r["cell_class"] == "dead"))

    _rewrite_cells(scan, counted)  # the table as the analysis writes it: the counts agree
    assert _report(scan)[0] == 0
    _rewrite_cells(scan, lambda rows: rows[0].update(cell_class="basophil"))
    code, out = _report(scan)
    assert code == 2 and "cells.csv counts 1 neutrophil cells, differential.json 2" in out


def test_a_report_into_a_missing_folder_is_a_clean_error(scan: Path, tmp_path: Path) -> None:
    code, out = _report(scan, "--out", str(tmp_path / "missing" / "dir" / "x.html"))
    assert code == 2 and "does not exist" in out and not (tmp_path / "missing").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_report_into_a_read_only_folder_is_a_clean_error(scan: Path) -> None:
    analysis = scan / "analysis"
    analysis.chmod(0o555)
    try:
        code, out = _report(scan)
    finally:
        analysis.chmod(0o755)
    assert code == 2 and "read-only" in out


def test_a_report_where_the_write_itself_fails_is_a_clean_error(scan: Path) -> None:
    """Even root cannot create files in /proc: the write error is said in one line."""
    code, out = _report(scan, "--out", "/proc/uvscope-report.html")
    assert code == 2 and "cannot write" in out


def test_gallery_names_tiles_without_a_gray_image_once_per_reason() -> None:
    from uvscope.report.images import _problem_lines

    lines = _problem_lines(
        {0: "no line in tiles.jsonl", 5: "truncated", 2: "no line in tiles.jsonl"}
    )
    assert lines == [
        '<p class="warn">Tiles 0, 2: gray image not shown (no line in tiles.jsonl).</p>',
        '<p class="warn">Tile 5: gray image not shown (truncated).</p>',
    ]
