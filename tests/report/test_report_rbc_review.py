"""The red-cell review in the report and the sign-off: reviewed classes are counted, and a
later red-cell reclassification voids the sign-off as a white-cell one does."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path

from uvscope.analysis.rbc import RbcRecord
from uvscope.analysis.rbc_review import load_smear_objects, save_reviewed_rbc
from uvscope.analysis.review import SIGNOFF_JSON, load_signoff, sign_off, signoff_is_current
from uvscope.report.page import write_report

from ._report_fixture import make_scan
from .test_report_cbc import HEALTHY, smear_tile, write_cbc


def _analysed(tmp_path: Path) -> Path:
    """A scan with cbc.json and its rbc.csv (the same 3,000 cells, 3 % of each poikilocyte)."""
    scan = make_scan(tmp_path, HEALTHY, images=False)
    write_cbc(scan)
    with open(scan / "analysis" / "rbc.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(RbcRecord.columns())
        w.writerows(astuple(r) for r in smear_tile().counted_rbcs)
    return scan


def _morph_row(page: str, name: str) -> tuple[int, str]:
    m = re.search(rf"<tr><td>{name}</td><td>([\d,]+)</td><td>([\d.]+) %", page)
    assert m, name
    return int(m.group(1).replace(",", "")), m.group(2)


def _reclassify(scan: Path, pairs: dict[str, int]) -> int:
    """Reclassify ``n`` normal cells to each class; returns how many changed."""
    normal = [o for o in load_smear_objects(scan) if o.predicted == "normal"]
    changes, i = [], 0
    for cls, n in pairs.items():
        changes += [(o, cls) for o in normal[i : i + n]]
        i += n
    save_reviewed_rbc(scan, changes)
    return len(changes)


def test_the_report_counts_the_reviewed_red_cell_classes_and_says_so(tmp_path: Path) -> None:
    scan = _analysed(tmp_path)
    doc = json.loads((scan / "analysis" / "cbc.json").read_text())
    before = write_report(scan).read_text()
    n_normal, n_sickle = _morph_row(before, "normal")[0], _morph_row(before, "sickle")[0]
    assert n_normal == doc["morphology"]["classes"]["normal"]["count"]
    assert "rules)" in before and "Reviewed</b>" not in before
    _reclassify(scan, {"sickle": 7, "not_red_cell": 3})
    page = write_report(scan).read_text()
    assert _morph_row(page, "normal")[0] == n_normal - 10
    assert _morph_row(page, "sickle")[0] == n_sickle + 7
    classified = doc["morphology"]["classified"] - 3  # "not a red cell" leaves the count
    assert f"class ({classified:,} whole cells, reviewed)" in page
    assert "<b>Reviewed</b>: 10 red cells or platelets reclassified" in page
    share = 100.0 * (n_sickle + 7) / classified
    assert _morph_row(page, "sickle")[1] == f"{share:.1f}"


def test_a_red_cell_reclassification_voids_the_sign_off(tmp_path: Path) -> None:
    scan = _analysed(tmp_path)
    _reclassify(scan, {"target": 1})
    when = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    record = sign_off(scan, "Dr. Rivera", now=when)
    assert record.reviewed_red_cells == 1 and record.rbc_labels_sha256
    assert signoff_is_current(scan, record)
    assert "by <b>Dr. Rivera</b>" in write_report(scan).read_text()
    _reclassify(scan, {"target": 1, "spherocyte": 1})  # a later change of the red cells only
    assert not signoff_is_current(scan, record)
    page = write_report(scan).read_text()
    assert "was changed afterwards" in page and "by <b>Dr. Rivera</b>" not in page
    record = sign_off(scan, "Dr. Rivera", now=when)  # signed again: covered again
    assert record.reviewed_red_cells == 2 and signoff_is_current(scan, record)


def test_a_sign_off_from_before_the_red_cell_review_still_reads(tmp_path: Path) -> None:
    """signoff.json written before it covered red cells: current while no red cell is
    reviewed, void once one is."""
    scan = _analysed(tmp_path)
    sign_off(scan, "A. Tech")
    old = json.loads((scan / SIGNOFF_JSON).read_text())
    for key in ("reviewed_red_cells", "rbc_labels_sha256"):
        del old[key]
    (scan / SIGNOFF_JSON).write_text(json.dumps(old))
    record = load_signoff(scan)
    assert record is not None and signoff_is_current(scan, record)
    _reclassify(scan, {"sickle": 1})
    assert not signoff_is_current(scan, record)
