"""The worklist: finished scans listed from a folder, opened for review without a rig,
re-reviewed, signed off and reported; one scan after another with nothing stale."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.gui.stored_scans import analysed_scan
from uvscope.analysis.review import REVIEWED_CSV, SIGNOFF_JSON
from uvscope.gui.main_window import MainWindow
from uvscope.gui.worklist import list_scans


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("worklist")
    analysed_scan(
        root / "scan-a",
        {"id": "H-0001", "slide_id": "SL-A", "operator": "A. Tech"},
        "2026-12-01T09:00:00+0000",
        seed=5,
    )
    analysed_scan(
        root / "scan-b",
        {"id": "H-0002", "slide_id": "SL-B", "operator": "B. Tech"},
        "2026-12-02T09:00:00+00:00",
        seed=9,
        n_cells=20,
    )
    (root / "not-a-scan").mkdir()
    return root


def _counted(folder: Path) -> set[str]:
    with (folder / "analysis" / "cells.csv").open(newline="") as fh:
        return {r["cell_id"] for r in csv.DictReader(fh) if r["counted"] == "True"}


def _positions(folder: Path) -> dict[str, float]:
    with (folder / "analysis" / "cells.csv").open(newline="") as fh:
        return {r["cell_id"]: round(float(r["x_um"]), 3) for r in csv.DictReader(fh)}


def _shown(win) -> dict[str, float]:
    return {k: round(c.x_um, 3) for k, c in win.results.cells.items()}


def _healthy(folder: Path) -> int:
    doc = json.loads((folder / "analysis" / "differential.json").read_text())
    return int(doc["differential"]["healthy"])


def test_list_scans_reads_identity_counts_and_sign_off(scans: Path):
    entries = list_scans(scans)
    assert [e.sample_id for e in entries] == ["H-0002", "H-0001"]  # newest first
    a = entries[1]
    assert a.wbcs == _healthy(scans / "scan-a") > 0
    assert a.status == "complete" and a.signed == ""
    cells = a.cells()
    assert cells[0] == "H-0001" and cells[5] == "no"
    assert cells[2].startswith("2026-12-01 ") and cells[2][-6] in "+-"  # local, with offset


def _window(qtbot, flat_rig):
    win = MainWindow(flat_rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=False)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    return win


def _open(qtbot, win, folder: Path) -> None:
    assert win.open_scan(folder)
    n = len(_counted(folder))
    qtbot.waitUntil(lambda: len(win.results.cells) == n, timeout=10_000)
    qtbot.waitUntil(lambda: "tiles and" in win.statusBar().currentMessage(), timeout=10_000)


def test_review_scans_one_after_another_with_nothing_stale(qtbot, flat_rig, scans, tmp_path):
    import shutil

    root = tmp_path / "scans"
    shutil.copytree(scans, root)
    a, b = root / "scan-a", root / "scan-b"
    win = _window(qtbot, flat_rig)
    dialog = win.show_worklist(root)
    assert dialog.table.rowCount() == 2
    assert dialog.table.item(1, 0).text() == "H-0001"
    dialog._open_row(1)  # as a double-click does
    n = len(_counted(a))
    qtbot.waitUntil(lambda: len(win.results.cells) == n, timeout=10_000)
    assert set(win.results.cells) == _counted(a)
    assert "H-0001" in win.results.identity_label.text()
    assert win.results.differential.current.total == _healthy(a)
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) == 4, timeout=10_000)
    assert win.red_cells.scan_dir == a  # the red cells and platelets tab shows the same slide
    assert (win.red_cells.doc is not None) == (a / "analysis" / "cbc.json").exists()

    # re-review: one cell becomes a blast, then sign-off and report, no rig involved
    cell_id = sorted(win.results.cells)[0]
    win.results.gallery.reclassify(cell_id, "blast")
    assert (a / REVIEWED_CSV).exists()
    win.results.operator_edit.setText("Dr Review")
    win.results.sign_off()
    assert json.loads((a / SIGNOFF_JSON).read_text())["operator"] == "Dr Review"
    qtbot.waitUntil(lambda: (a / "analysis" / "report.html").exists(), timeout=20_000)
    qtbot.waitUntil(win.results.report_button.isEnabled, timeout=20_000)
    report = (a / "analysis" / "report.html").read_text(encoding="utf-8")
    assert "H-0001" in report and "SL-A" in report  # identity in the header
    labels_before = (a / REVIEWED_CSV).read_bytes()

    # the second scan replaces everything: cells, review, identity, mosaic
    _open(qtbot, win, b)
    assert set(win.results.cells) == _counted(b)
    shown = _shown(win)  # ids repeat across slides (tile and label): the cells must be B's
    assert all(shown[k] == _positions(b)[k] for k in shown)
    assert any(shown[k] != _positions(a).get(k) for k in shown)
    assert len(win.results.review) == 0
    assert "H-0002" in win.results.identity_label.text()
    assert "H-0001" not in win.results.identity_label.text()
    assert win.results.differential.current.total == _healthy(b)
    assert len(win.scan_view.mosaic.tiles) == 4
    assert win.results.gallery.count("blast") == 0
    assert win.red_cells.scan_dir == b
    assert (win.red_cells.doc is not None) == (b / "analysis" / "cbc.json").exists()

    # back to the first: its review is taken up as stored, the sign-off still holds
    _open(qtbot, win, a)
    assert win.results.gallery.class_of(cell_id) == "blast"
    assert len(win.results.review) == 1
    assert (a / REVIEWED_CSV).read_bytes() == labels_before  # opening never rewrites it
    entry = {e.sample_id: e for e in list_scans(root)}["H-0001"]
    assert entry.signed.startswith("Dr Review, ")
    win.close()


def test_a_folder_without_a_scan_is_refused_with_a_message(qtbot, flat_rig, tmp_path):
    win = _window(qtbot, flat_rig)
    assert not win.open_scan(tmp_path)
    assert "manifest.json" in win.banner.label.text()
    win.close()


@pytest.mark.parametrize(("count", "expected"), [(None, None), (4.2e6, 4.2e6)])
def test_a_stored_scan_keeps_its_red_cell_count_in_the_identity(scans, tmp_path, count, expected):
    """The manifest's [sample] holds rbc_per_ul (a number or null) beside the identity."""
    import shutil

    from uvscope.errors import StorageError
    from uvscope.gui.stored_scan import open_stored_scan

    folder = tmp_path / "scan"
    shutil.copytree(scans / "scan-a", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"]["sample"]["rbc_per_ul"] = count
    (folder / "manifest.json").write_text(json.dumps(manifest))
    stored = open_stored_scan(folder)
    assert stored.sample.id == "H-0001" and stored.sample.rbc_per_ul == expected
    manifest["config"]["sample"]["rbc_per_ul"] = "lots"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StorageError, match="manifest.json: its \\[sample\\] is not valid"):
        open_stored_scan(folder)
