"""Start wires the scan once (``prepare_scan``, as `uvscope scan` does): the folder checked, the
analysis built, the engine that runs, with no engine made and thrown away; a resume with
analysis on goes the same way and finishes the stage mosaics."""

from __future__ import annotations

import json

import pytest

import uvscope.gui.scan_controller as scan_controller
from tests.gui.test_gui_window import _scan, _window, slow_rig  # noqa: F401 - fixture
from uvscope.acquisition.events import RunState


def test_start_and_resume_with_analysis_each_prepare_the_scan_once(
    qtbot,
    slow_rig,  # noqa: F811
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resumes: list[bool] = []
    real = scan_controller.prepare_scan

    def counted(*args, **kw):
        resumes.append(kw.get("resume", False))
        return real(*args, **kw)

    monkeypatch.setattr(scan_controller, "prepare_scan", counted)
    win, sinks = _window(qtbot, slow_rig, tmp_path, scan=_scan(tmp_path, rows=3, columns=3))
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) >= 2, timeout=20_000)
    assert resumes == [False] and len(sinks) == 1  # one engine, one analysis
    win.scan_view.abort_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.ABORTED, timeout=30_000)
    out = tmp_path / "scan"
    assert not list((out / "mosaic").glob("*.tif"))  # an aborted scan writes no mosaic

    win.start_scan()  # asked, and answered: resume the interrupted scan
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=60_000)
    qtbot.waitUntil(win.panel.goto_button.isEnabled, timeout=20_000)
    assert resumes == [False, True] and len(sinks) == 2 and sinks[1].closed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["summary"]["tiles_done"] == 9
    assert (out / "mosaic" / "mosaic_260.ome.tif").exists()
    win.close()
