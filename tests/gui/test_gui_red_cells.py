"""The "Red cells and platelets" view: a real smear analysis of simulated tiles in a real scan
folder, shown, reviewed with keys and saved."""

from __future__ import annotations

import csv
import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.analysis.scanfolder_fixture import write_scan_folder
from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.analysis.cbc import CbcAccumulator
from uvscope.analysis.dedup import CoreRegions
from uvscope.analysis.evaluate import SimCamera
from uvscope.analysis.platelets import PlateletRecord
from uvscope.analysis.rbc import RbcRecord
from uvscope.analysis.rbc_review import (
    NOT_RED_CELL,
    REVIEWED_RBC_CSV,
    load_reviewed_rbc,
)
from uvscope.analysis.smear import SmearAnalyser, SmearTile
from uvscope.gui.cbc_view import INDEX_ROWS
from uvscope.gui.rbc_gallery import RBC_HOTKEYS
from uvscope.gui.red_cells_panel import RedCellsPanel

SHAPE = (520, 696)


@cache
def _analysed(donor: str) -> tuple[list[TileSpec], list[Tile], list[SmearTile]]:
    """Two overlapping simulated tiles of a donor and their real smear analysis."""
    cam = SimCamera(donor, 21, shape=SHAPE)
    cx, cy = cam.world.smear_centre_mm()
    step_x = SHAPE[1] * cam.px * 0.85e-3
    specs = [TileSpec(i, 0, i, cx + i * step_x, cy) for i in range(2)]
    cores = CoreRegions(specs, SHAPE, cam.px)
    tiles = [cam.tile(s) for s in specs]
    an = SmearAnalyser()
    smear = [
        an.analyse(t, cam.world.ground_truth(s.x_mm, s.y_mm).cell_labels, cores)
        for s, t in zip(specs, tiles, strict=True)
    ]
    return specs, tiles, smear


def _write_table(path: Path, columns: list[str], records: list) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, columns)
        w.writeheader()
        for r in records:
            w.writerow(r.to_row())


def make_scan(root: Path, donor: str = "sickle", background_usable: bool = True) -> dict:
    """A scan folder with its tiles and the analysis's rbc.csv, platelets.csv and cbc.json."""
    specs, tiles, smear = _analysed(donor)
    write_scan_folder(root, specs, tiles)
    acc = CbcAccumulator()
    for st in smear:
        acc.add(st)
    doc = acc.document(None, None, background_usable=background_usable)
    out = root / "analysis"
    out.mkdir()
    _write_table(out / "rbc.csv", RbcRecord.columns(), [r for s in smear for r in s.counted_rbcs])
    _write_table(
        out / "platelets.csv",
        PlateletRecord.columns(),
        [p for s in smear for p in s.counted_platelets],
    )
    (out / "cbc.json").write_text(json.dumps(doc), encoding="utf-8")
    return doc


@pytest.fixture
def sickle_scan(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "scan"
    return root, make_scan(root)


def _loaded(qtbot, root: Path) -> RedCellsPanel:
    panel = RedCellsPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.gallery_ready, timeout=20_000):
        panel.load(root)
    return panel


def test_the_view_shows_the_numbers_of_cbc_json(qtbot, sickle_scan) -> None:
    root, doc = sickle_scan
    panel = _loaded(qtbot, root)
    hb = doc["haemoglobin"]
    assert hb["measured"]
    mch = panel.cbc.text("MCH (pg)")
    lo, hi = hb["mch_ci_pg"]
    assert mch == f"{hb['mch_pg']:.1f} ({lo:.1f}-{hi:.1f})"
    assert panel.cbc.text("Diameter (um)").startswith(f"{doc['size']['mean_diameter_um']:.2f}")
    per = doc["platelets"]["per_1000_rbc"]
    assert panel.cbc.text("PLT / 1,000 RBC").startswith(f"{per:.1f}")
    assert panel.cbc.text("Red cells").startswith(str(doc["red_cells_counted"]))
    # the sickle donor's flag, with its rule
    assert "Sickle cells seen" in panel.cbc.flags.text()
    assert "rule:" in panel.cbc.flags.text()
    # the histograms are the document's counts
    assert panel.histograms.hb.heights() == [float(c) for c in hb["histogram"]["counts"]]
    d_counts = doc["size"]["histogram"]["counts"]
    assert panel.histograms.diameter.heights() == [float(c) for c in d_counts]
    # the gallery holds the analysis's classes: every shown sickle cell came from rbc.csv
    sickle = doc["morphology"]["classes"]["sickle"]["count"]
    assert sickle > 0 and panel.gallery.count("sickle") == sickle
    # the analysis's shares are the automatic column; nothing reviewed yet
    row = INDEX_ROWS  # noqa: F841 - the table's rows are the report's
    assert panel.cbc.shares.item(1, 0).toolTip() == f"{sickle} cells"
    pct = doc["morphology"]["classes"]["sickle"]["percent"]
    assert panel.cbc.shares.item(1, 0).text().startswith(f"{pct:.1f} (")
    assert panel.cbc.shares.item(1, 1).text() == "-"


def test_recounted_shares_without_review_equal_the_analysis(qtbot, sickle_scan) -> None:
    """The reviewed count starts from the same cells as cbc.json's: no review, same shares."""
    from uvscope.analysis.rbc_review import final_labels, morphology_shares

    root, doc = sickle_scan
    panel = _loaded(qtbot, root)
    shares = morphology_shares(final_labels(panel.objects.values(), {}).values())
    for name, s in doc["morphology"]["classes"].items():
        assert shares[name]["count"] == s["count"]
        assert shares[name]["ci_percent"] == pytest.approx(s["ci_percent"])


def test_a_key_reclassifies_saves_and_recounts(qtbot, sickle_scan) -> None:
    root, doc = sickle_scan
    panel = _loaded(qtbot, root)
    gallery = panel.gallery
    gallery.show_class("sickle")
    first, second = gallery.order("sickle")[:2]
    gallery.select(first)
    lw = gallery.lists["sickle"]
    lw.setFocus()
    key_normal = next(k for k, c in RBC_HOTKEYS.items() if c == "normal")
    with qtbot.waitSignal(panel.review_saved):
        qtbot.keyClick(lw, key_normal)
    # moved, the next one selected, saved at once in the scan folder
    assert first in gallery.order("normal") and first not in gallery.order("sickle")
    assert lw.currentItem().data(Qt.ItemDataRole.UserRole).object_id == second
    saved = load_reviewed_rbc(root)
    assert saved[first].predicted == "sickle" and saved[first].reviewed == "normal"
    rows = (root / REVIEWED_RBC_CSV).read_text(encoding="utf-8").splitlines()
    assert rows[0] == "object_id,tile,x_um,y_um,predicted,reviewed" and len(rows) == 2
    # the reviewed shares are recounted: one fewer sickle cell, one more normal
    auto = doc["morphology"]["classes"]
    assert panel.cbc.shares.item(1, 1).toolTip() == f"{auto['sickle']['count'] - 1} cells"
    assert panel.cbc.shares.item(0, 1).toolTip() == f"{auto['normal']['count'] + 1} cells"
    # "not a red cell" leaves the denominator
    with qtbot.waitSignal(panel.review_saved):
        qtbot.keyClick(lw, "n")
    assert load_reviewed_rbc(root)[second].reviewed == NOT_RED_CELL
    n = sum(s["count"] for s in auto.values()) - 1
    normal = auto["normal"]["count"] + 1
    assert panel.cbc.shares.item(0, 1).toolTip() == f"{normal} cells"
    assert panel.cbc.shares.item(0, 1).text().startswith(f"{100 * normal / n:.1f} (")
    # a double-click asks for the cell in the mosaic
    item = lw.currentItem()
    with qtbot.waitSignal(panel.cell_activated) as shown:
        lw.itemDoubleClicked.emit(item)
    assert shown.args[0].object_id == item.data(Qt.ItemDataRole.UserRole).object_id
    # a reopened scan shows the review where it was left
    again = _loaded(qtbot, root)
    assert first in again.gallery.order("normal")
    assert second in again.gallery.order(NOT_RED_CELL)


def test_a_key_typed_in_another_field_changes_nothing(qtbot, sickle_scan) -> None:
    root, _ = sickle_scan
    panel = _loaded(qtbot, root)
    before = panel.gallery.order("sickle")
    qtbot.keyClick(panel.cbc.indices, "1")
    assert panel.gallery.order("sickle") == before
    assert not (root / REVIEWED_RBC_CSV).exists()


def test_a_scan_without_red_cell_analysis_says_so(qtbot, tmp_path: Path) -> None:
    (tmp_path / "analysis").mkdir()
    panel = RedCellsPanel()
    qtbot.addWidget(panel)
    panel.load(tmp_path)
    assert "not analysed" in panel.cbc.status.text()
    assert panel.cbc.text("MCH (pg)") == "-"
    assert panel.histograms.hb.heights() == []
    assert all(panel.gallery.count(c) == 0 for c in panel.gallery.classes)


def test_an_unusable_background_shows_no_haemoglobin_number(qtbot, tmp_path: Path) -> None:
    root = tmp_path / "scan"
    doc = make_scan(root, "healthy", background_usable=False)
    assert doc["haemoglobin"]["mch_pg"] is None
    panel = _loaded(qtbot, root)
    assert panel.cbc.text("MCH (pg)") == "not measured"
    assert panel.cbc.text("Hb width (CV %)") == "not measured"
    assert "no usable background" in panel.cbc.status.text()
    assert panel.histograms.hb.heights() == []
    # the size is still measured and shown
    assert math.isfinite(float(panel.cbc.text("Diameter (um)").split()[0]))
    # no digit anywhere in the haemoglobin rows
    assert not any(ch.isdigit() for ch in panel.cbc.text("MCH (pg)"))


def test_thumbnails_are_cut_from_the_tiles_at_the_cells(qtbot, sickle_scan) -> None:
    """A red cell's crop is darker in its middle than the clear glass at its corner."""
    root, _ = sickle_scan
    panel = _loaded(qtbot, root)
    gallery = panel.gallery
    ids = gallery.order("normal")[:20]
    assert ids
    for oid in ids:
        img = gallery._thumbs[oid].astype(np.float32)
        h = img.shape[0]
        centre_ring = img[h // 2 - h // 5 : h // 2 + h // 5, h // 2 - h // 5 : h // 2 + h // 5]
        assert centre_ring.min() < np.percentile(img, 90) - 20


def test_the_window_fills_the_tab_when_a_scan_finishes(qtbot, flat_rig, tmp_path: Path) -> None:
    """The end of a scan loads its red cells: here the analysis sink writes a cbc.json."""
    from tests.gui.fake_analysis import FakeAnalysisSink
    from tests.gui.identity import IDENTIFIED
    from uvscope.acquisition.events import RunState
    from uvscope.config import RegionConfig, ScanConfig
    from uvscope.gui.main_window import MainWindow

    out = tmp_path / "scan"
    doc = {"tiles": 2, "red_cells_counted": 1234, "haemoglobin": {"measured": False}}

    class WritesCbc(FakeAnalysisSink):
        def close(self) -> None:
            super().close()
            (out / "analysis").mkdir(exist_ok=True)
            (out / "analysis" / "cbc.json").write_text(json.dumps(doc), encoding="utf-8")

    scan = ScanConfig(
        name="gui test",
        region=RegionConfig(center_mm=(40.0, 30.0), rows=1, columns=2),
        output_dir=out,
    ).replace(
        analysis={"enabled": True},
        background={"frames": 2, "dark_frames": 1},
        sample=IDENTIFIED.model_dump(),
    )
    win = MainWindow(
        flat_rig,
        analysis_factory=lambda *a: WritesCbc(),
        ask=lambda *a: True,
        live_on_connect=False,
        scan=scan,
    )
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: set(win.panel.state.values()) == {"connected"}, timeout=5000)
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=20_000)
    qtbot.waitUntil(lambda: win.red_cells.doc is not None, timeout=10_000)
    assert win.red_cells.scan_dir == out
    assert win.red_cells.cbc.text("Red cells").startswith("1234")
    assert win.red_cells.cbc.text("MCH (pg)") == "not measured"
    qtbot.waitUntil(win.panel.goto_button.isEnabled, timeout=20_000)


def test_a_damaged_review_file_is_reported_and_left_as_it_is(qtbot, sickle_scan) -> None:
    root, _ = sickle_scan
    bad = "object_id,tile,x_um,y_um,predicted,reviewed\nx,0,1.0,2.0,normal,banana\n"
    (root / REVIEWED_RBC_CSV).write_text(bad, encoding="utf-8")
    panel = RedCellsPanel()
    qtbot.addWidget(panel)
    errors: list[object] = []
    panel.failed.connect(lambda what, err: errors.append(err))
    with qtbot.waitSignal(panel.gallery_ready, timeout=20_000):
        panel.load(root)
    assert errors and "banana" in str(errors[0])
    assert "banana" in panel.saved_label.text()
    assert all(panel.gallery.count(c) == 0 for c in panel.gallery.classes)
    assert (root / REVIEWED_RBC_CSV).read_text(encoding="utf-8") == bad
