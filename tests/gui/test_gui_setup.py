"""Set-up hazards gone: wheel over a spin box, arrow keys, errors in words beside their field,
scrolled into view, and an estimate before start checked against a real scan's numbers."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea

from uvscope.config import RegionConfig, ScanConfig, load_rig
from uvscope.errors import ConfigError
from uvscope.gui.estimate import WBC_PER_MM2, estimate_scan
from uvscope.gui.input_guards import guard_wheel
from uvscope.gui.main_window import MainWindow
from uvscope.gui.scan_form import ScanForm, human_label, human_message


def _wheel(widget, steps: int = 1) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, ev)


def test_the_wheel_changes_a_spin_box_only_once_it_has_focus(qtbot) -> None:
    form = ScanForm()
    area = QScrollArea()
    area.setWidget(form)
    area.setWidgetResizable(True)
    qtbot.addWidget(area)
    guard_wheel(form)
    area.resize(500, 300)
    area.show()
    spin = form.wl_exposure[260]
    before = spin.value()
    _wheel(spin)
    assert spin.value() == before  # scrolling past it changes nothing
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    _wheel(spin)
    assert spin.value() != before
    assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus


def test_arrow_keys_jog_only_from_the_image_not_from_a_spin_box(qtbot, flat_rig) -> None:
    win = MainWindow(flat_rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.panel.position is not None, timeout=10_000)
    jogs = []
    win.panel.jog = lambda dx, dy: jogs.append((dx, dy))  # type: ignore[method-assign]
    spin = win.panel.exposure
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    value = spin.value()
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert jogs == [] and spin.value() > value  # Up steps the value, the stage stays
    win.tabs.setCurrentIndex(0)
    win.live.glw.setFocus()
    qtbot.waitUntil(win.live.glw.hasFocus)
    qtbot.keyClick(win.live.glw, Qt.Key.Key_Right)
    assert jogs == [(1, 0)]
    win.close()


def test_errors_are_in_words_beside_the_field_and_scrolled_into_view(qtbot) -> None:
    form = ScanForm()
    area = QScrollArea()
    area.setWidget(form)
    area.setWidgetResizable(True)
    qtbot.addWidget(area)
    area.resize(520, 300)
    area.show()
    form.focus_extra.widgets["wavelength_nm"].setText("290")
    with pytest.raises(ConfigError):
        form.config()
    text = form.error_text("focus.wavelength_nm")
    assert "must be one of (260, 280, 300)" in text
    assert form.error_text("focus") == "" and form.error_text("general") == ""
    label = form.errors["focus.wavelength_nm"]
    qtbot.waitUntil(lambda: label.visibleRegion().isEmpty() is False, timeout=2000)
    assert area.verticalScrollBar().value() > 0  # scrolled down to it


def test_messages_use_labels_not_keys() -> None:
    assert human_label("fine_range_um") == "Fine range (µm)"
    assert human_label("overlap_percent") == "Overlap (%)"
    msg = human_message("fine_range_um must not exceed sweep_range_um")
    assert msg == "fine range (µm) must not exceed sweep range (µm)"
    assert human_message("Input should be less than 50") == "must be less than 50"


def test_estimate_matches_the_demo_scans_measured_figures() -> None:
    """Demo scan (3 x 4 tiles, 260 nm, raw kept, analysis on) measured on the simulated rig:
    259 MB written, 4 WBCs counted, 62 s wall including model loading (RESULTS.md)."""
    rig = load_rig(None)
    cfg = ScanConfig().replace(analysis={"enabled": True})
    est = estimate_scan(cfg, rig)
    assert (est.tiles, est.rows, est.columns) == (12, 3, 4)
    assert 0.9 < est.disk_bytes / 259e6 < 1.1
    assert 40 < est.total_s < 70
    assert 2 < est.expected_wbc < 8
    no_raw = estimate_scan(cfg.replace(save_raw=False), rig)
    assert no_raw.disk_bytes < est.disk_bytes


def test_estimate_says_when_the_stop_rule_needs_more_than_the_region(qtbot) -> None:
    form = ScanForm()
    qtbot.addWidget(form)
    form.rig_config = load_rig(None)
    cfg = ScanConfig(region=RegionConfig(center_mm=(42.5, 32.5), rows=3, columns=4))
    form.set_config(cfg.replace(analysis={"enabled": True, "stop_after_wbc": 100}))
    est = form.update_estimate()
    assert est is not None and est.tiles_for_stop is not None
    # 100 cells at WBC_PER_MM2 need 100 / 12 mm^2 of tile cores
    assert est.tiles_for_stop > est.tiles
    assert "may end before it is reached" in form.estimate_label.text()
    assert f"{WBC_PER_MM2:g}/mm²" in form.estimate_label.text()
    form.rows.setValue(0)  # invalid: no estimate, no crash
    qtbot.waitUntil(lambda: "not valid" in form.estimate_label.text(), timeout=2000)


def test_a_failed_autofocus_says_the_range_it_searched(qtbot, flat_rig) -> None:
    win = MainWindow(flat_rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.panel.position is not None, timeout=10_000)
    win.panel.autofocus_button.click()  # a flat field: nothing to focus on
    qtbot.waitUntil(lambda: win.banner.isVisible(), timeout=60_000)
    text = win.banner.label.text()
    assert "found no focus" in text and "+- 20 um" in text
    win.close()


@pytest.mark.parametrize("size", [(1338, 721), (1892, 1033)])  # 1366 x 768 and 1920 x 1080
def test_the_set_up_form_fits_a_laptop_screen_unclipped(qtbot, flat_rig, size) -> None:
    from PySide6.QtWidgets import QPushButton

    win = MainWindow(flat_rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=False)
    qtbot.addWidget(win)
    win.show()
    win.lay_out_for(*size)
    win.left_tabs.setCurrentIndex(1)
    qtbot.wait(50)
    area = win.left_tabs.currentWidget()
    assert area.horizontalScrollBar().maximum() == 0  # no horizontal scrolling
    view_w = area.viewport().width()
    for b in win.form.findChildren(QPushButton):  # Here, Blank here, Current, Browse...
        right = b.mapTo(area.viewport(), b.rect().topRight()).x()
        assert right <= view_w, f"{b.text()} clipped at {right} > {view_w}"
    assert win.tabs.width() >= 600  # the images keep most of the window
    win.close()
