"""The all-classes page and the side-by-side comparison of selected cells."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from tests.gui.test_gui_review import _cell, _thumbs
from tests.gui.test_gui_review_safety import _panel
from uvscope.analysis.review import load_reviewed_labels
from uvscope.gui.gallery import CellThumb


def _mixed_panel(qtbot, tmp_path):
    panel = _panel(qtbot, tmp_path, n=11)  # 11 neutrophils
    more = [_cell(f"t00001c{i:04d}", "lymphocyte", 0.5 + i / 10, 1500.0 + i) for i in range(3)]
    more.append(_cell("t00002c0000", "blast", 0.7))
    panel.add_cells(_thumbs(more))
    return panel


def test_all_classes_page_has_a_row_per_class_with_counts_and_a_click_opens_the_cell(
    qtbot, tmp_path
):
    panel = _mixed_panel(qtbot, tmp_path)
    g = panel.gallery
    g.reclassify("t00000c0003", "monocyte")  # 10 neutrophils, 1 monocyte
    g.overview_button.click()
    page = g.overview
    assert g.middle.currentWidget() is page
    # the classes that have cells, in the review's order (blast, review-only, after the five)
    assert list(page.rows) == ["neutrophil", "lymphocyte", "monocyte", "blast"]
    assert "(10)" in page.titles["neutrophil"].text() and "(3)" in page.titles["lymphocyte"].text()
    assert page.rows["neutrophil"].count() == 8  # a few of the ten, least sure first
    g.resize(950, 520)  # a narrow page shows only whole thumbnails, fewer of them
    qtbot.waitUntil(lambda: page.rows["neutrophil"].shown() < 8)
    n = page.rows["neutrophil"].shown()
    assert n >= 1 and n * page.rows["neutrophil"].gridSize().width() <= (
        page.rows["neutrophil"].viewport().width()
    )
    g.resize(1600, 520)
    qtbot.waitUntil(lambda: page.rows["neutrophil"].shown() == 8)
    assert page.rows["lymphocyte"].cell_ids() == g.order("lymphocyte")
    # the reviewed mark shows on the page too: the gallery's own icon
    mono = page.rows["monocyte"].item(0).icon().pixmap(192, 96).toImage()
    assert mono.pixelColor(191, 0).getRgb()[:3] == (255, 196, 0)
    row = page.rows["lymphocyte"]
    rect = row.visualItemRect(row.item(2))
    qtbot.mouseClick(row.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert g.middle.currentWidget() is g.stack and not g.overview_button.isChecked()
    assert g.current_class() == "lymphocyte"
    assert (
        g.lists["lymphocyte"].currentItem().data(Qt.ItemDataRole.UserRole).cell_id
        == (g.order("lymphocyte")[2])
    )
    assert g.detail.cell is not None and g.detail.cell.cell_id == g.order("lymphocyte")[2]


def test_all_classes_page_follows_a_reclassification_and_says_when_empty(qtbot, tmp_path):
    panel = _panel(qtbot, tmp_path, n=0)
    g = panel.gallery
    g.show_overview(True)
    assert g.overview.rows == {} and g.overview.empty.isVisibleTo(g.overview)
    panel.add_cells(_thumbs([_cell("t00000c0000", "neutrophil", 0.9)]))
    assert list(g.overview.rows) == ["neutrophil"]  # a live scan's cell joins at once
    g.reclassify("t00000c0000", "eosinophil")
    assert list(g.overview.rows) == ["eosinophil"]


def test_compare_opens_the_selected_cells_and_a_key_there_is_an_undoable_review(qtbot, tmp_path):
    panel = _mixed_panel(qtbot, tmp_path)
    g = panel.gallery
    g.show_class("lymphocyte")
    lw = g.lists["lymphocyte"]
    assert not g.compare_button.isEnabled()
    lw.item(0).setSelected(True)
    assert not g.compare_button.isEnabled()  # one cell: nothing to compare
    lw.item(1).setSelected(True)
    lw.item(2).setSelected(True)
    assert g.compare_button.isEnabled()
    g.compare_button.click()
    view = g.compare_view
    assert view is not None and view.isVisible()
    ids = g.order("lymphocyte")
    assert view.cell_ids() == ids and view.labels() == ["lymphocyte"] * 3
    first = view.columns[0].info.text()
    assert "Lymphocyte" in first and "p = 0.50" in first and "20 x 20 px" in first
    qtbot.waitExposed(view)
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow)
    view.columns[0].setFocus()
    qtbot.keyClick(view.columns[0], Qt.Key.Key_Right)
    assert view.focused() == 1
    qtbot.keyClick(view.columns[1], Qt.Key.Key_5)  # 5: monocyte, as in the gallery
    assert g.class_of(ids[1]) == "monocyte" and g.is_marked(ids[1])
    assert view.labels()[1] == "monocyte" and "reviewed" in view.columns[1].info.text()
    assert load_reviewed_labels(tmp_path)[ids[1]].reviewed == "monocyte"  # saved at once
    assert panel.undo_stack[-1] == (ids[1], "lymphocyte", "monocyte")
    qtbot.keyClick(view.columns[1], Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert g.class_of(ids[1]) == "lymphocyte" and view.labels()[1] == "lymphocyte"
    assert load_reviewed_labels(tmp_path) == {}
    panel.reset(tmp_path)  # a new scan closes the comparison
    assert g.compare_view is None and not view.isVisible()


def test_compare_shows_sizes_in_micrometres_and_takes_two_to_four_cells(qtbot, tmp_path):
    panel = _panel(qtbot, tmp_path, n=6)
    g = panel.gallery
    g.pixel_size_um = 0.25
    lw = g.lists["neutrophil"]
    for i in range(5):
        lw.item(i).setSelected(True)
    assert not g.compare_button.isEnabled() and g.compare_selected() is None  # five
    lw.item(4).setSelected(False)
    view = g.compare_selected()
    assert view is not None and len(view.columns) == 4
    assert "5.0 x 5.0 µm" in view.columns[0].info.text()  # a 20 px box at 0.25 µm/px
    big = view.columns[0].image.pixmap()
    assert big.width() > 192  # larger than the stored 96 px crop pair


def test_compare_shows_each_cells_own_picture(qtbot, tmp_path):
    panel = _panel(qtbot, tmp_path, n=0)
    cells = [_cell(f"t00000c{i:04d}", "basophil", 0.9) for i in range(2)]
    thumbs = [
        CellThumb(c, np.full((96, 192, 3), 40 + 150 * i, np.uint8)) for i, c in enumerate(cells)
    ]
    panel.add_cells(thumbs)
    g = panel.gallery
    g.show_class("basophil")
    g.lists["basophil"].selectAll()
    view = g.compare_selected()
    assert view is not None
    shades = [c.image.pixmap().toImage().pixelColor(40, 40).red() for c in view.columns]
    assert sorted(shades) == [40, 190]


def test_reference_cells_of_the_class_shown_and_a_lab_folder_first(qtbot, tmp_path):
    from PIL import Image

    from uvscope.models.reference_cells import choose_reference_cells

    lab = tmp_path / "refs"
    (lab / "lymphocytes").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((60, 60, 3), 200, np.uint8)).save(lab / "lymphocytes" / f"{i}.png")
    panel = _mixed_panel(qtbot, tmp_path)
    g = panel.gallery
    g.set_references(choose_reference_cells(lab))
    strip = g.references
    g.show_class("neutrophil")
    assert len(strip.pictures) == 3 and "built-in" in strip.title.text()
    assert strip.pictures[0].pixmap().height() == strip.thumb_px
    g.show_class("lymphocyte")
    assert len(strip.pictures) == 2 and str(lab) in strip.title.text()
    assert strip.pictures[0].pixmap().toImage().pixelColor(5, 5).red() == 200
    g.show_overview(True)  # the references are of one class: not over all the rows
    assert not strip.isVisible()
    g.show_overview(False)
    assert strip.isVisible()
    g.show_class("artefact")  # no simulated artefacts, none from the lab
    assert not strip.pictures and "No reference cells" in strip.title.text()
    g.references_button.click()
    assert not strip.isVisible()


def test_a_malformed_lab_reference_folder_is_said_in_the_strip(qtbot, tmp_path):
    from uvscope.models.reference_cells import choose_reference_cells

    (tmp_path / "refs" / "granulocytes").mkdir(parents=True)
    panel = _mixed_panel(qtbot, tmp_path)
    g = panel.gallery
    g.set_references(choose_reference_cells(tmp_path / "refs"))
    g.show_class("monocyte")
    assert g.references.problem.isVisible()
    assert "'granulocytes'" in g.references.problem.text()
    assert len(g.references.pictures) == 3  # the built-in ones stay


def test_the_lab_settings_name_the_reference_folder_relative_to_the_file(tmp_path):
    from uvscope.gui.lab_settings import load_lab_settings

    path = tmp_path / "lab.toml"
    path.write_text('reference_cells = "our cells"\n')
    assert load_lab_settings(path).reference_cells == tmp_path / "our cells"


def test_the_window_takes_the_labs_reference_folder_and_the_rigs_pixel_size(
    qtbot, flat_rig, tmp_path
):
    from PIL import Image

    from tests.gui.test_gui_window import _window
    from uvscope.gui.lab_settings import LabSettings

    (tmp_path / "refs" / "basophil").mkdir(parents=True)
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(tmp_path / "refs" / "basophil" / "a.png")
    win, _ = _window(qtbot, flat_rig, tmp_path, lab=LabSettings(reference_cells=tmp_path / "refs"))
    refs = win.results.gallery.references.refs
    assert str(tmp_path / "refs") in refs.source["basophil"]
    assert refs.source["neutrophil"].startswith("built-in")
    assert win.results.gallery.pixel_size_um == flat_rig.config.camera.pixel_size_um
    win.close()
