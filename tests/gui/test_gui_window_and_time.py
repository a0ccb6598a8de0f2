"""The window as a lab opens and leaves it: maximised, Help, About, Quit, a close question
that follows the scan, a report that opens with or without a browser, Snap and Save frame."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

import uvscope
from tests.gui.test_gui_live_view import ListSource
from tests.gui.test_gui_window import _scan, _window, slow_rig  # noqa: F401
from tests.report._report_fixture import make_scan
from uvscope.acquisition.events import RunState
from uvscope.gui.help_dialog import about_text, operator_section, readme_text
from uvscope.gui.live_view import LiveViewWidget
from uvscope.gui.main_window import MainWindow, _AskDialog
from uvscope.gui.results_panel import ResultsPanel
from uvscope.gui.worklist import WorklistDialog


def _plain_window(qtbot, flat_rig) -> MainWindow:
    win = MainWindow(flat_rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=False)
    qtbot.addWidget(win)
    return win


def test_opens_maximised_with_help_about_and_quit(qtbot, flat_rig, tmp_path):
    win = _plain_window(qtbot, flat_rig)
    win.show_on_start_screen()
    qtbot.waitUntil(win.isVisible)
    assert win.windowState() & Qt.WindowState.WindowMaximized
    menus = [a.text() for a in win.menuBar().actions()]
    assert menus[0] == "&File" and menus[-1] == "&Help"
    file_actions = {a.text(): a for a in win.file_menu.actions()}
    assert {"Open scan for review...", "Worklist...", "Quit"} <= set(file_actions)
    assert file_actions["Quit"].shortcut().toString() == "Ctrl+Q"
    win.form.output_dir.setText(str(tmp_path / "scans" / "next"))
    file_actions["Worklist..."].trigger()  # from the menu: the set-up folder's parent
    dialogs = [d for d in win.findChildren(WorklistDialog) if d.isVisible()]
    assert len(dialogs) == 1 and dialogs[0].folder_edit.text() == str(tmp_path / "scans")
    dialogs[0].close()
    help_dialog = win.show_help()
    text = help_dialog.browser.toPlainText()
    assert text.startswith("The operator GUI") and "Sign off" in text
    help_dialog.close()
    about = about_text()
    assert uvscope.__version__ in about and "classify (resnet18)" in about
    file_actions["Quit"].trigger()  # nothing running: closes at once
    qtbot.waitUntil(lambda: not win.isVisible())


def test_help_is_the_readme_section_only():
    section = operator_section(readme_text())
    assert section.startswith("## The operator GUI")
    assert "## The simulated world" not in section


def test_the_close_question_goes_when_the_scan_ends_behind_it(qtbot, slow_rig, tmp_path):  # noqa: F811
    win, _ = _window(qtbot, slow_rig, tmp_path, scan=_scan(tmp_path, rows=2, columns=3))
    ask = _AskDialog(win)
    win.ask = ask
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) >= 1, timeout=20_000)
    seen = []

    def while_asked() -> None:
        seen.append(ask.box is not None and ask.box.isVisible())

    QTimer.singleShot(30, while_asked)
    win.close()  # the question is up (modal) until the 3-tile scan ends by itself
    assert seen == [True]
    assert ask.box is None and not win.isVisible()  # it closed itself, then the window
    assert win.scan_view.state == RunState.FINISHED
    assert not [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]


def test_open_report_without_a_browser_shows_it_in_the_window(qtbot, tmp_path, monkeypatch):
    from uvscope.report.page import write_report

    scan = make_scan(tmp_path, ["neutrophil"] * 4, images=False, sample={"id": "H-77"})
    write_report(scan)
    monkeypatch.setattr("uvscope.gui.results_panel.browser_available", lambda: False)
    monkeypatch.setattr("uvscope.gui.results_panel.QDesktopServices.openUrl", lambda url: False)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.reset(scan, analysed=True)
    viewer = panel.open_report()
    assert viewer is not None and viewer.isVisible()
    assert "H-77" in viewer.browser.toPlainText()
    assert str(scan / "analysis" / "report.html") in viewer.note.text()
    assert "no browser could be started" in panel.saved_label.text()
    viewer.close()


@pytest.mark.parametrize("name", ["snap.ome.tif", "snap.tif"])
def test_snap_holds_the_frame_and_save_writes_it_losslessly(qtbot, tmp_path, name):
    w = LiveViewWidget(pixel_size_um=0.5)
    qtbot.addWidget(w)
    src = ListSource()
    w.set_source(src, 280, 30.0)
    w.stage_mm = (41.25, 30.5)
    src.push(1234)
    src.frames[-1].image[10:20, 30:40] = np.arange(100, dtype=np.uint16).reshape(10, 10) + 5000
    assert w.refresh()
    w.snap_button.setChecked(True)
    src.push(999)  # live goes on underneath; the snapped frame stays on screen
    assert not w.refresh() and w.image.image[0, 1] == 1234
    with qtbot.waitSignal(w.saver.saved, timeout=10_000) as sig:
        assert w.save_frame(tmp_path / name)
    path = sig.args[0]
    assert path.endswith(".ome.tif")
    with tifffile.TiffFile(path) as tif:
        data = tif.asarray()
        ome = tif.ome_metadata
    assert data.dtype == np.uint16 and np.array_equal(data, src.frames[0].image)  # lossless
    assert 'PhysicalSizeX="0.5"' in ome and "280" in ome and "41.25" in ome
    w.snap_button.setChecked(False)
    assert w.refresh() and w.image.image[0, 1] == 999


def test_the_set_up_column_folds_away_for_review_on_a_laptop(qtbot, flat_rig):
    win = _plain_window(qtbot, flat_rig)
    win.resize(1366, 740)
    win.show()
    qtbot.waitUntil(lambda: win.main_split.sizes()[0] > 0)
    left = win.main_split.sizes()[0]
    win.tabs.setCurrentWidget(win.results)
    assert win.main_split.sizes()[0] == 0 and win.setup_toggle.text() == "Show set-up"
    win.tabs.setCurrentIndex(0)  # back to Live: the column returns as it was
    assert win.main_split.sizes()[0] == left and win.setup_toggle.text() == "Hide set-up"
    win.setup_toggle.click()  # by hand, on any tab
    assert win.main_split.sizes()[0] == 0
    win.setup_toggle.click()
    assert win.main_split.sizes()[0] == left
    win.resize(1800, 900)  # a wide screen keeps it while reviewing
    qtbot.waitUntil(lambda: win.width() >= 1600)
    win.tabs.setCurrentWidget(win.results)
    assert win.main_split.sizes()[0] > 0
    win.close()
