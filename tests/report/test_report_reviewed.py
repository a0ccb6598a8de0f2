"""The report shows a reviewer's changes beside the automatic differential."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from uvscope.analysis.differential import DifferentialCounter, wilson_interval
from uvscope.analysis.review import REVIEWED_CSV, REVIEWED_FIELDS
from uvscope.report.page import write_report

AUTO = ["neutrophil"] * 6 + ["lymphocyte"] * 3 + ["monocyte"] + ["dead"]


def _analysed_scan(tmp_path: Path) -> Path:
    """A scan folder with what the analysis writes: differential.json and cells.csv (and the
    manifest, without which no report is written)."""
    scan = tmp_path / "scan"
    (scan / "analysis").mkdir(parents=True)
    manifest = {"format": "uvscope-scan", "format_version": 1, "status": "complete"}
    (scan / "manifest.json").write_text(json.dumps(manifest))
    counter = DifferentialCounter()
    for cls in AUTO:
        counter.add(cls, dead=cls == "dead")
    doc = {"created": "now", "differential": counter.snapshot().to_dict(), "tiles": {}}
    (scan / "analysis" / "differential.json").write_text(json.dumps(doc))
    with open(scan / "analysis" / "cells.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["cell_id", "tile", "row", "col", "cell_class"])
        w.writeheader()
        for i, cls in enumerate(AUTO):
            w.writerow(
                {"cell_id": f"t00000c{i:04d}", "tile": 0, "row": 5, "col": 5, "cell_class": cls}
            )
    return scan


def _review(scan: Path, rows: list[tuple[str, str, str]]) -> None:
    with open(scan / REVIEWED_CSV, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REVIEWED_FIELDS)
        for cell_id, predicted, reviewed in rows:
            w.writerow([cell_id, 0, "1.0", "2.0", predicted, reviewed])


def _row(page: str, cls: str) -> list[str]:
    m = re.search(rf"{cls}</td>(.*?)</tr>", page)
    assert m, f"no {cls} row"
    return re.findall(r"<td[^>]*>(.*?)</td>", m.group(1))


def test_report_without_review_has_one_differential(tmp_path: Path) -> None:
    page = write_report(_analysed_scan(tmp_path)).read_text()
    assert "after review" not in page and "Reviewed cells" not in page
    assert _row(page, "neutrophil")[:2] == ["6", "60.0"]


def test_report_shows_reviewed_differential_and_cells(tmp_path: Path) -> None:
    scan = _analysed_scan(tmp_path)
    # two neutrophils become an eosinophil and a dead cell; the dead one becomes a monocyte
    _review(
        scan,
        [
            ("t00000c0001", "neutrophil", "eosinophil"),
            ("t00000c0002", "neutrophil", "dead"),
            ("t00000c0010", "dead", "monocyte"),
            ("t00009c0001", "lymphocyte", "basophil"),  # not in cells.csv
        ],
    )
    page = write_report(scan).read_text()
    assert "after review" in page and "Reviewed cells (4)" in page
    n = 10  # healthy after review: 10 - 1 (to dead) + 1 (from dead)
    lo, hi = wilson_interval(4, n)
    # reviewed first (what is signed), the automatic count beside it
    assert _row(page, "neutrophil") == [
        "4", "40.0", f"{100 * lo:.1f} - {100 * hi:.1f}", "6", "60.0", _ci(wilson_interval(6, 10))
    ]  # fmt: skip
    assert _row(page, "eosinophil")[:2] == ["1", "10.0"]
    assert _row(page, "monocyte")[:2] == ["2", "20.0"]
    assert _row(page, "basophil")[0] == "0"  # the unknown cell is not counted
    assert "t00000c0001 (tile 0): neutrophil &rarr; eosinophil</span>" in page
    assert "t00009c0001 *" in page and "1 reviewed cell not in cells.csv" in page


def _ci(interval: tuple[float, float]) -> str:
    return f"{100 * interval[0]:.1f} - {100 * interval[1]:.1f}"


def test_report_refuses_a_reviewed_file_with_an_unknown_class(tmp_path: Path) -> None:
    from uvscope.errors import StorageError

    scan = _analysed_scan(tmp_path)
    _review(scan, [("t00000c0001", "neutrophil", "platelet")])
    with pytest.raises(StorageError, match="unknown class 'platelet'"):
        write_report(scan)
