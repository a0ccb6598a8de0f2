"""Result widgets over plain result objects: differential, gallery review, mosaic layers."""

from __future__ import annotations

import numpy as np
import pytest

from uvscope.analysis.differential import wilson_interval
from uvscope.gui.differential_view import DifferentialView
from uvscope.gui.gallery import CellGallery, CellThumb
from uvscope.gui.mosaic_view import MosaicView
from uvscope.gui.results import DisplayCell as CellRow
from uvscope.gui.results import DisplayTile as TileResult
from uvscope.gui.results import differential_from_labels
from uvscope.gui.review import ReviewStore
from uvscope.gui.tile_prep import MosaicTile, pyramid, result_images, to_gray_u8


def _cell(i: int, cls: str, tile: int = 0) -> CellRow:
    return CellRow(
        cell_id=str(i),
        tile_index=tile,
        cls=cls,
        probabilities={cls: 0.9},
        x_um=1000.0 + i,
        y_um=2000.0,
        bbox=(10, 10, 30, 30),
        label=i + 1,
    )


def test_gui_differential_uses_the_analysis_wilson_interval():
    diff = differential_from_labels(["neutrophil"] * 30 + ["lymphocyte"] * 70)
    lo, hi = wilson_interval(30, 100)
    assert diff.ci95["neutrophil"] == pytest.approx((100 * lo, 100 * hi))
    assert 20 < diff.ci95["neutrophil"][0] < 30 < diff.ci95["neutrophil"][1] < 40
    assert differential_from_labels([]).ci95["basophil"] == (0.0, 100.0)


def test_differential_view_shows_counts_percent_and_ci(qtbot):
    view = DifferentialView()
    qtbot.addWidget(view)
    diff = differential_from_labels(
        ["neutrophil"] * 6 + ["lymphocyte"] * 3 + ["monocyte"] + ["dead"] * 2
    )
    view.show_differential(diff)
    assert view.table.item(0, 0).text() == "6"
    assert view.table.item(0, 1).text() == "60.0"
    lo, hi = diff.ci95["neutrophil"]
    assert view.table.item(0, 2).text() == f"{lo:.1f} - {hi:.1f}"
    assert "10 WBCs" in view.summary.text() and "2 dead" in view.summary.text()
    heights = view.bars.opts["height"]  # the report's order: neut, eos, baso, lymph, mono
    assert heights[0] == pytest.approx(60.0) and heights[3] == pytest.approx(30.0)
    assert [view.table.verticalHeaderItem(i).text() for i in range(5)] == [
        "Neutrophil", "Eosinophil", "Basophil", "Lymphocyte", "Monocyte"
    ]  # fmt: skip


def test_gallery_reclassify_moves_the_cell_and_is_saved(qtbot, tmp_path):
    gallery = CellGallery()
    qtbot.addWidget(gallery)
    thumb = np.zeros((64, 128, 3), np.uint8)
    cells = [_cell(1, "neutrophil"), _cell(2, "neutrophil"), _cell(3, "monocyte")]
    gallery.add_cells([CellThumb(c, thumb) for c in cells])
    assert gallery.count("neutrophil") == 2
    store = ReviewStore()
    gallery.reclassified.connect(store.set)
    with qtbot.waitSignal(gallery.reclassified) as sig:
        gallery.reclassify("2", "eosinophil")
    assert sig.args[1] == "eosinophil"
    assert gallery.count("neutrophil") == 1 and gallery.count("eosinophil") == 1
    path = store.save(tmp_path)
    assert path == tmp_path / "analysis" / "reviewed_labels.csv"
    assert ReviewStore.load(tmp_path) == {"2": "eosinophil"}
    out = store.export_training_labels(tmp_path / "labels.csv", cells)
    rows = out.read_text().splitlines()
    assert rows[2].split(",")[-2:] == ["eosinophil", "1"]
    assert rows[1].split(",")[-2:] == ["neutrophil", "0"]


def test_gallery_double_click_or_show_in_mosaic_reports_the_cell(qtbot):
    gallery = CellGallery()
    qtbot.addWidget(gallery)
    gallery.add_cells([CellThumb(_cell(5, "lymphocyte"), np.zeros((64, 128, 3), np.uint8))])
    item = gallery.lists["lymphocyte"].item(0)
    with qtbot.waitSignal(gallery.cell_activated) as sig:
        gallery.lists["lymphocyte"].itemDoubleClicked.emit(item)
    assert sig.args[0].cell_id == "5"
    gallery.select("5")
    with qtbot.waitSignal(gallery.cell_activated) as sig:
        gallery.detail.locate_button.click()
    assert sig.args[0].cell_id == "5"


def _mosaic_tile(index: int, x_mm: float, y_mm: float, shape=(104, 136)) -> MosaicTile:
    gray = to_gray_u8(np.full(shape, 0.8, np.float32))
    return MosaicTile(
        index=index,
        x_mm=x_mm,
        y_mm=y_mm,
        width_um=shape[1] * 0.16,
        height_um=shape[0] * 0.16,
        images={"gray": pyramid(gray)},
    )


def test_mosaic_places_tiles_by_stage_position_and_switches_layers(qtbot):
    view = MosaicView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    t0, t1 = _mosaic_tile(0, 40.0, 30.0), _mosaic_tile(1, 40.02, 30.0)
    view.add_tile(t0)
    view.add_tile(t1)
    r0 = view.items[0].mapRectToParent(view.items[0].boundingRect())
    r1 = view.items[1].mapRectToParent(view.items[1].boundingRect())
    assert r0.center().x() == pytest.approx(40_000.0) and r0.center().y() == pytest.approx(30_000)
    assert r1.center().x() - r0.center().x() == pytest.approx(20.0)
    # analysis layers: stained shown once they arrive, gray before
    view.set_mode("stained")
    assert view.shown_mode(0) == "gray"
    gray_full = to_gray_u8(np.full((104, 136), 0.8, np.float32))
    labels = np.zeros((104, 136), np.int32)
    labels[40:60, 40:60] = 1
    stained = np.zeros((104, 136, 3), np.uint8)
    stained[..., 0] = 200
    res = TileResult(0, stained, labels, [_cell(0, "monocyte")])
    view.update_tile(0, result_images(gray_full, res))
    assert view.shown_mode(0) == "stained"
    assert view.items[0].image.ndim == 3 and view.items[0].image[..., 0].max() == 200
    view.set_mode("outlines")
    assert view.shown_mode(0) == "outlines"
    with pytest.raises(ValueError):
        view.set_mode("nonsense")


def test_mosaic_zoom_in_swaps_visible_tiles_to_the_fine_level(qtbot):
    view = MosaicView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    for i in range(6):
        view.add_tile(_mosaic_tile(i, 40.0 + 2.0 * i, 30.0))
    view.vb.autoRange()
    view._update_lod()
    assert view.fine_tiles() == []
    before = view.items[0].mapRectToParent(view.items[0].boundingRect())
    view.center_on(40_000.0, 30_000.0, width_um=10.0)
    qtbot.waitUntil(lambda: 0 in view.fine_tiles(), timeout=2000)
    assert 5 not in view.fine_tiles()
    # the finer image covers exactly the same stage area
    after = view.items[0].mapRectToParent(view.items[0].boundingRect())
    assert view.items[0].image.shape[1] == 4 * view.tiles[0].images["gray"][8].shape[1]
    assert (after.x(), after.y(), after.width(), after.height()) == pytest.approx(
        (before.x(), before.y(), before.width(), before.height())
    )


def test_outlines_take_the_class_colour():
    from uvscope.gui.style import class_color
    from uvscope.gui.tile_prep import class_outlines

    labels = np.zeros((20, 20), np.int32)
    labels[5:15, 5:15] = 3
    out = class_outlines(np.zeros((20, 20, 3), np.uint8), labels, [_cell(2, "eosinophil")])
    assert tuple(out[5, 8]) == class_color("eosinophil")
    assert tuple(out[10, 10]) == (0, 0, 0)


def test_results_panel_updates_the_report_with_the_review(qtbot, tmp_path):
    import csv
    import json

    from uvscope.analysis.differential import DifferentialCounter
    from uvscope.gui.results_panel import ResultsPanel

    classes = ["neutrophil", "neutrophil", "lymphocyte"]
    (tmp_path / "analysis").mkdir()
    counter = DifferentialCounter()
    for cls in classes:
        counter.add(cls, dead=False)
    doc = {"differential": counter.snapshot().to_dict(), "tiles": {}}
    (tmp_path / "analysis" / "differential.json").write_text(json.dumps(doc))
    manifest = {"format": "uvscope-scan", "format_version": 1, "status": "complete"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))  # no report without it
    with open(tmp_path / "analysis" / "cells.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["cell_id", "tile", "row", "col", "cell_class"])
        w.writerows([str(i), 0, 5, 5, cls] for i, cls in enumerate(classes))
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.reset(tmp_path)
    cells = [_cell(i, cls) for i, cls in enumerate(classes)]
    panel.add_cells([CellThumb(c, np.zeros((64, 128, 3), np.uint8)) for c in cells])
    panel.gallery.reclassify("1", "monocyte")
    with qtbot.waitSignal(panel.report_written, timeout=10_000) as sig:
        panel.report_button.click()
    page = (tmp_path / "analysis" / "report.html").read_text()
    assert sig.args[0].endswith("report.html") and "after review" in page
    assert 'class="rc">1 (tile 0): neutrophil &rarr; monocyte</span>' in page  # cell 1, tile 0
    assert panel.report_button.isEnabled()


def test_window_fits_a_laptop_screen():
    from uvscope.gui.main_window import fitted_size

    assert fitted_size((1500, 900), (1920, 1080)) == (1500, 900)
    w, h = fitted_size((1500, 900), (1366, 768))
    assert w <= 1366 and h <= 768 and w > 1300 and h > 700


def test_report_button_only_for_analysed_scans(qtbot, tmp_path):
    from uvscope.gui.results_panel import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.reset(tmp_path, analysed=False)
    assert not panel.report_button.isEnabled()
    assert "off" in panel.differential.summary.text()
    panel.reset(tmp_path)
    assert panel.report_button.isEnabled()


def test_differential_chart_scale_follows_the_largest_interval(qtbot):
    view = DifferentialView()
    qtbot.addWidget(view)
    view.show_differential(differential_from_labels(["neutrophil"] * 2 + ["lymphocyte"] * 98))
    assert view.plot.getViewBox().viewRange()[1][1] >= 100 * wilson_interval(98, 100)[1]
    view.show_differential(
        differential_from_labels(
            ["neutrophil"] * 30 + ["lymphocyte"] * 30 + ["monocyte"] * 20 + ["eosinophil"] * 20
        )
    )
    y1 = view.plot.getViewBox().viewRange()[1][1]
    assert 100 * wilson_interval(30, 100)[1] <= y1 < 60


def test_mosaic_picks_the_level_that_matches_the_screen(qtbot):
    view = MosaicView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    for i in range(3):
        view.add_tile(_mosaic_tile(i, 40.0 + 0.03 * i, 30.0))
    assert not view.items[0].autoDownsample  # no float averaging on the GUI thread
    full_px_per_um = 1 / 0.16
    # a third of the full resolution on screen: 1/4 suffices, 1/8 would be magnified 2.7x
    view.center_on(40_000.0, 30_000.0, width_um=view.vb.width() / (full_px_per_um / 3))
    qtbot.waitUntil(lambda: view._shown_level.get(0) == 4, timeout=2000)
    assert view.items[0].image.shape[1] == 136 // 4


def test_analysis_threads_run_at_a_lower_priority():
    import os
    import threading

    from uvscope.gui.priority import ANALYSIS_NICE, lower_analysis_threads

    if not hasattr(os, "setpriority"):
        pytest.skip("no per-thread priorities on this platform")
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="uvscope-analysis", daemon=True)
    other = threading.Thread(target=stop.wait, name="uvscope-scan", daemon=True)
    t.start()
    other.start()
    try:
        before = os.getpriority(os.PRIO_PROCESS, other.native_id)
        assert lower_analysis_threads() >= 1
        assert os.getpriority(os.PRIO_PROCESS, t.native_id) >= ANALYSIS_NICE
        assert os.getpriority(os.PRIO_PROCESS, other.native_id) == before  # acquisition kept
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < ANALYSIS_NICE
    finally:
        stop.set()


def test_chosen_cell_is_framed_not_covered(qtbot):
    from PySide6.QtCore import Qt

    view = MosaicView()
    qtbot.addWidget(view)
    view.add_tile(_mosaic_tile(0, 40.0, 30.0))
    view.center_on(40_000.0, 30_000.0)
    pts = view.marker.points()
    assert len(pts) == 1 and (pts[0].pos().x(), pts[0].pos().y()) == (40_000.0, 30_000.0)
    assert pts[0].brush().style() == Qt.BrushStyle.NoBrush  # the cell stays visible
    assert not view.marker.opts["pxMode"]  # sized in um: frames the cell at any zoom
