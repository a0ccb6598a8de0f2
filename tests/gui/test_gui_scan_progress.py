"""Scan view: acquired / analysed / counted with an ETA that includes the analysis, the
event log, and the output folder checked (finished, unwritable, interrupted -> resume)."""

from __future__ import annotations

import json

import pytest

from tests.gui.test_gui_window import _scan, _window, slow_rig  # noqa: F401 - fixture
from uvscope.acquisition.events import PrepProgress, PrepStep, RunState, ScanProgress
from uvscope.config import RegionConfig
from uvscope.gui.run_progress import RunProgress
from uvscope.gui.scan_view import ScanView


def test_eta_includes_the_analysis_and_keeps_moving_while_waiting() -> None:
    run = RunProgress()
    run.start(10, analysis=True, now_s=0.0)
    for i in range(1, 11):  # acquisition: a tile a second
        run.tile_acquired(i, float(i))
    for i in range(3):  # analysis: a tile every 4 s
        run.tile_analysed(4.0 * (i + 1))
    assert run.waiting_for_analysis
    eta = run.eta_s(12.0)
    assert eta == pytest.approx(7 * 4.0, rel=0.01)  # 7 tiles left at 0.25 tiles/s
    assert run.eta_s(20.0) < eta  # not frozen: the clock runs while the scan waits
    text = run.text(20.0)
    assert "acquired 10 of 10, analysed 3 of 10" in text and "elapsed 0:20" in text
    no_analysis = RunProgress()
    no_analysis.start(10, analysis=False, now_s=0.0)
    no_analysis.tile_acquired(5, 5.0)
    assert no_analysis.eta_s(5.0) == pytest.approx(5.0)


def test_a_target_count_scan_counts_down_to_its_projected_end() -> None:
    run = RunProgress()
    run.start(9, analysis=True, now_s=0.0)  # ring 0 and 1 handed out: more will come
    run.tile_acquired(9, 9.0)
    run.projected_end_s = 600.0  # the target estimate's (``TargetWatch.projected_end_s``)
    assert run.eta_s(100.0) == pytest.approx(500.0)
    assert "ETA 8:20" in run.text(100.0)
    run.start(4, analysis=True, now_s=700.0)  # a new scan forgets it
    assert run.projected_end_s is None


def test_scan_view_says_it_waits_for_the_analysis(qtbot) -> None:
    view = ScanView()
    qtbot.addWidget(view)
    now = [0.0]
    view.clock = lambda: now[0]
    view.analysis_on = True
    view.set_total(4)
    view.set_state(RunState.RUNNING)
    assert view.analysis_bar.isVisible() or not view.isVisible()
    for i in range(1, 5):
        now[0] = float(i)
        view.set_progress(ScanProgress(i, 4, float(i), 1.0, 0.0, 0.0))
    now[0] = 6.0
    view.tile_analysed()
    view.set_counted(1)
    assert view.state_label.text() == "Scan acquired; waiting for the analysis"
    assert "analysed 1 of 4, counted 1 WBC," in view.rate_label.text()
    assert view.analysis_bar.value() == 1 and view.progress_bar.value() == 4
    view.log_event("tile 3: refocused")
    assert view.log_view.toPlainText().endswith("tile 3: refocused")


def test_a_finished_folder_is_refused_beside_the_output_field(qtbot, flat_rig, tmp_path) -> None:
    scan = _scan(tmp_path, analysis=False)
    out = tmp_path / "scan"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"status": "complete", "plan": {"tiles": 6}}))
    win, _ = _window(qtbot, flat_rig, tmp_path, scan=scan)
    win.start_scan()
    assert "holds a finished scan (complete): choose a new folder" in win.form.error_text(
        "output_dir"
    )
    assert not win.controller.running
    win.close()


def test_an_unwritable_folder_is_reported_on_the_output_field(qtbot, flat_rig, tmp_path) -> None:
    (tmp_path / "a-file").write_text("x")
    scan = _scan(tmp_path, analysis=True).replace(output_dir=tmp_path / "a-file" / "scan")
    win, sinks = _window(qtbot, flat_rig, tmp_path, scan=scan)
    win.start_scan()
    assert "cannot write to" in win.form.error_text("output_dir")
    assert sinks == []  # the analysis models were never loaded
    assert "analysis models" not in win.banner.label.text()
    win.close()


def test_an_interrupted_scan_resumes_from_the_gui(qtbot, slow_rig, tmp_path) -> None:  # noqa: F811
    win, _ = _window(qtbot, slow_rig, tmp_path, scan=_scan(tmp_path, rows=3, columns=3,
                                                            analysis=False))  # fmt: skip
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) >= 2, timeout=20_000)
    win.scan_view.abort_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.ABORTED, timeout=10_000)
    out = tmp_path / "scan"
    done_before = sum(1 for _ in (out / "tiles.jsonl").open())
    assert 0 < done_before < 9
    win.form.name.setText("changed since")  # resume uses the folder's own set-up
    asked = []
    win.ask = lambda title, text: asked.append(text) or True  # type: ignore[method-assign]
    win.start_scan()
    assert asked and f"({done_before} of 9 tiles)" in asked[0]
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=30_000)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["summary"]["tiles_done"] == 9
    assert manifest["summary"]["tiles_acquired_now"] == 9 - done_before
    assert win.form.name.text() == "gui test"
    assert "resuming scan into" in win.scan_view.log_view.toPlainText()
    win.close()


def test_double_click_moves_the_stage_inside_limits_after_asking(qtbot, flat_rig, tmp_path):
    asked: list[str] = []
    answers = [False, True]
    win, _ = _window(qtbot, flat_rig, tmp_path, ask=lambda t, m: asked.append(m) or answers.pop(0))
    qtbot.waitUntil(lambda: win.panel.position is not None, timeout=5000)
    x0, y0, _ = win.panel.position
    win.live.stage_mm = (x0, y0)
    import numpy as np

    win.live.image.setImage(np.zeros((96, 128), np.uint16))
    # the pixel 20 columns right of centre is 20 x 0.5 um = 10 um further in x (sim rig)
    win.live.move_to_pixel(48, 64 + 20)
    assert len(asked) == 1 and "Move the stage to" in asked[0]  # declined: nothing moves
    assert flat_rig.stage.position_mm()[0] == pytest.approx(x0)
    win.live.move_to_pixel(48, 64 + 20)
    target = win.live.stage_at(48, 84)
    qtbot.waitUntil(lambda: abs(flat_rig.stage.position_mm()[0] - target[0]) < 1e-6, timeout=5000)
    assert abs(target[0] - x0) == pytest.approx(0.010, abs=0.0005)  # within a pixel
    win.scan_view.mosaic.move_requested.emit(500.0, 10.0)  # outside the soft limits
    assert "outside the stage's soft limits" in win.banner.label.text()
    assert len(asked) == 2  # never asked for the refused move
    win.close()


def test_the_progress_label_follows_each_focus_map_point(qtbot, tmp_path) -> None:
    """Preparing is no black box: darks, background and each focus-map point, k of N."""
    from tests.acquisition._focus_world import small_rig

    rig, _ = small_rig()
    scan = _scan(tmp_path, rows=1, columns=9, analysis=False).replace(
        region=RegionConfig(center_mm=(44.0, 33.0), rows=1, columns=9),
        focus={"mode": "map", "map_points": 3},
    )
    win, _ = _window(qtbot, rig, tmp_path, scan=scan)
    labels: list[str] = []
    bars: list[tuple[int, int]] = []

    def seen(_p) -> None:  # connected after the window's own slot: the view is updated
        labels.append(win.scan_view.state_label.text())
        bars.append((win.scan_view.progress_bar.value(), win.scan_view.progress_bar.maximum()))

    win.controller.preparing.connect(seen)
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=20_000)
    focus = [t for t in labels if "Focus map" in t]
    assert focus[0] == "Scan preparing: Focus map: point 1 of 3"
    assert focus[1].startswith("Scan preparing: Focus map: point 2 of 3, about ")
    assert focus[1].endswith(" s left")
    assert focus[-1] == "Scan preparing: Focus map: 3 of 3 points done"
    assert labels[0].startswith("Scan preparing: Dark frames: wavelength 1 of ")
    assert any(t.startswith("Scan preparing: Background: wavelength 1 of ") for t in labels)
    assert (3, 3) in bars
    assert not win.scan_view.state_label.text().startswith("Scan preparing")
    win.close()


def test_scan_view_shows_a_preparation_step_then_the_tiles(qtbot) -> None:
    view = ScanView()
    qtbot.addWidget(view)
    view.set_total(9)
    view.set_state(RunState.PREPARING)
    assert view.state_label.text() == "Scan preparing"
    view.set_preparing(PrepProgress(PrepStep.FOCUS_MAP, 2, 9, 20.0, 70.0))
    assert view.state_label.text() == "Scan preparing: Focus map: point 3 of 9, about 70 s left"
    assert view.progress_bar.value() == 2 and view.progress_bar.maximum() == 9
    view.set_state(RunState.RUNNING)  # before the first tile: the bar is the tiles' again
    assert view.progress_bar.format() == "%v / %m acquired" and view.progress_bar.value() == 0
    view.set_progress(ScanProgress(1, 9, 1.0, 1.0, 8.0, 1.0))
    assert view.state_label.text() == "Scan running"
    assert view.progress_bar.value() == 1


def test_a_growing_count_n_scan_counts_both_bars_against_the_same_tiles(qtbot) -> None:
    """A count-N scan's plan is every tile it may reach (933 here); the tiles handed out
    grow ring by ring (25): the analysis bar says "11 / 25", as the line beside it does,
    not "11 / 933" (seen in the Xvfb screenshot of a running count-200 scan)."""
    view = ScanView()
    qtbot.addWidget(view)
    view.analysis_on = True
    view.set_total(933)
    view.set_state(RunState.RUNNING)
    view.set_progress(ScanProgress(24, 25, 24.0, 1.0, 1.0, 24.0))
    for _ in range(11):
        view.tile_analysed()
    assert (view.analysis_bar.value(), view.analysis_bar.maximum()) == (11, 25)
    assert (view.progress_bar.value(), view.progress_bar.maximum()) == (24, 25)
    assert "acquired 24 of 25, analysed 11 of 25" in view.rate_label.text()
