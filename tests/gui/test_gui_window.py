"""The whole window against the simulated rig: devices, a small scan, review, abort, close."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import FlatWorld
from tests.gui.fake_analysis import FakeAnalysisSink
from tests.gui.identity import IDENTIFIED
from uvscope.acquisition.events import RunState
from uvscope.config import RegionConfig, ScanConfig
from uvscope.gui.main_window import MainWindow


class SlowWorld(FlatWorld):
    """Renders take real time, so a scan lasts long enough to pause and abort."""

    def render(self, *args, **kwargs):
        time.sleep(0.02)
        return super().render(*args, **kwargs)


def _scan(tmp_path, rows=2, columns=3, analysis=True) -> ScanConfig:
    return ScanConfig(
        name="gui test",
        region=RegionConfig(center_mm=(40.0, 30.0), rows=rows, columns=columns),
        output_dir=tmp_path / "scan",
        sample=IDENTIFIED,
    ).replace(analysis={"enabled": analysis}, background={"frames": 2, "dark_frames": 1})


def _window(qtbot, rig, tmp_path, **kw):
    sinks: list[FakeAnalysisSink] = []

    def factory(scan, rig, out, plan):
        sinks.append(FakeAnalysisSink())
        return sinks[-1]

    win = MainWindow(
        rig,
        analysis_factory=factory,
        ask=kw.pop("ask", lambda *a: True),
        live_on_connect=False,
        **kw,
    )
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: set(win.panel.state.values()) == {"connected"}, timeout=5000)
    return win, sinks


@pytest.fixture
def slow_rig(small_rig_config):
    from uvscope.sim.devices import build_sim_rig

    cam = small_rig_config.camera
    return build_sim_rig(
        small_rig_config, renderer=SlowWorld(cam.width_px, cam.height_px, cam.pixel_size_um)
    )


def test_scan_fills_mosaic_and_differential_then_review_is_saved(qtbot, flat_rig, tmp_path):
    win, sinks = _window(qtbot, flat_rig, tmp_path, scan=_scan(tmp_path))
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=20_000)
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) == 6, timeout=5000)
    qtbot.waitUntil(lambda: len(win.results.cells) == 12, timeout=5000)
    # the scan's summary (after its FINISHED state) hands the device panel back: the scan,
    # its sinks and the progress texts are final from then on
    qtbot.waitUntil(win.panel.goto_button.isEnabled, timeout=20_000)
    # tiles sit at their stage positions; analysis layers arrived
    t = win.scan_view.mosaic.tiles[0]
    assert 39.0 < t.x_mm < 41.0 and 29.0 < t.y_mm < 31.0
    win.scan_view.mode_buttons["outlines"].setChecked(True)
    assert all(win.scan_view.mosaic.shown_mode(i) == "outlines" for i in range(6))
    # differential: the sink's counts in the table
    qtbot.waitUntil(
        lambda: (
            win.results.differential.current is not None
            and win.results.differential.current.total == 12
        ),
        timeout=5000,
    )
    assert win.results.differential.table.item(0, 0).text() == str(
        sinks[0].labels.count("neutrophil")
    )
    assert win.scan_view.progress_bar.value() == 6
    assert "acquired 6 of 6, analysed 6 of 6" in win.scan_view.rate_label.text()
    assert "counted" in win.scan_view.rate_label.text()
    assert "state: finished" in win.scan_view.log_view.toPlainText()
    # reclassify a neutrophil as a basophil: moved, saved with the scan, differential updated
    gallery = win.results.gallery
    n_neu, n_bas = gallery.count("neutrophil"), gallery.count("basophil")
    cell = gallery.lists["neutrophil"].item(0).data(256)
    gallery.reclassify(cell.cell_id, "basophil")
    assert gallery.count("neutrophil") == n_neu - 1 and gallery.count("basophil") == n_bas + 1
    csv = tmp_path / "scan" / "analysis" / "reviewed_labels.csv"
    assert f"{cell.cell_id}," in csv.read_text() and "basophil" in csv.read_text()
    diff = win.results.differential.current
    assert diff.counts["basophil"] == n_bas + 1 and diff.counts["neutrophil"] == n_neu - 1
    assert "1 reclassified" in win.results.differential.summary.text()
    # clicking a cell centres the mosaic on it
    win.results.gallery.cell_activated.emit(cell)
    (x0, x1), (y0, y1) = win.scan_view.mosaic.vb.viewRange()
    assert x0 < cell.x_um < x1 and y0 < cell.y_um < y1 and (x1 - x0) < 500
    assert sinks[0].closed


def test_pause_resume_abort_keeps_the_files(qtbot, slow_rig, tmp_path):
    win, _ = _window(
        qtbot, slow_rig, tmp_path, scan=_scan(tmp_path, rows=6, columns=6, analysis=False)
    )
    win.scan_view.start_button.click()
    assert not win.panel.goto_button.isEnabled()
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) >= 2, timeout=20_000)
    win.scan_view.pause_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.PAUSED, timeout=5000)
    win.scan_view.resume_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.RUNNING, timeout=5000)
    win.scan_view.abort_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.ABORTED, timeout=10_000)
    # the controls come back with the scan's summary, just after its last state change
    qtbot.waitUntil(lambda: win.panel.goto_button.isEnabled(), timeout=10_000)
    manifest = json.loads((tmp_path / "scan" / "manifest.json").read_text())
    assert manifest["status"] == "aborted"
    assert 0 < win.scan_view.progress_bar.value() < 36


def test_closing_during_a_scan_asks_then_stops_cleanly(qtbot, slow_rig, tmp_path):
    answers = [False, True]
    win, _ = _window(
        qtbot,
        slow_rig,
        tmp_path,
        ask=lambda *a: answers.pop(0),
        scan=_scan(tmp_path, rows=6, columns=6, analysis=False),
    )
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) >= 1, timeout=20_000)
    win.close()  # answered "no": keeps scanning
    assert win.isVisible() and win.controller.running
    win.close()  # answered "yes": stops at the next tile boundary, then closes
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=10_000)
    manifest = json.loads((tmp_path / "scan" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"


def test_device_panel_jogs_and_reports_limits(qtbot, flat_rig, tmp_path):
    win, _ = _window(qtbot, flat_rig, tmp_path)
    qtbot.waitUntil(lambda: win.panel.position is not None, timeout=5000)
    x0, y0, _ = win.panel.position
    win.panel.step.setCurrentText("1 mm")
    win.panel.jog_buttons["right"].click()
    qtbot.waitUntil(lambda: abs(win.panel.position[0] - (x0 + 1.0)) < 1e-6, timeout=5000)
    win.panel.jog(0, 1)  # the arrow keys call this
    qtbot.waitUntil(lambda: abs(win.panel.position[1] - (y0 + 1.0)) < 1e-6, timeout=5000)
    assert flat_rig.stage.position_mm() == pytest.approx((x0 + 1.0, y0 + 1.0))
    win.panel.go_to(500.0, 10.0)  # outside the soft limits
    qtbot.waitUntil(lambda: win.banner.isVisible(), timeout=5000)
    assert "soft limits" in win.banner.label.text()
    assert "What to do" in win.banner.label.text()
    z0 = win.panel.position[2]
    win.panel.focus_by(2.5)
    qtbot.waitUntil(lambda: abs(win.panel.position[2] - (z0 + 2.5)) < 1e-6, timeout=5000)
    # "set corner here" takes the polled position
    win.form.by_corners.setChecked(True)
    win.form.corner_here[0].click()
    assert win.form.corner[0][0].value() == pytest.approx(round(x0 + 1.0, 3))


def test_start_without_output_folder_shows_the_field_error(qtbot, flat_rig, tmp_path):
    win, _ = _window(qtbot, flat_rig, tmp_path)
    win.form.output_dir.setText("")
    win.start_scan()
    assert "output folder" in win.form.error_text("output_dir")
    assert win.banner.isVisible() and not win.controller.running


def test_results_shaped_like_the_pipeline_reach_the_widgets(qtbot, flat_rig, tmp_path):
    """Adapter path: signals on the session's worker, CellRecords, images freed after emit."""
    from tests.gui.fake_analysis import PipelineShapedSink

    sinks: list[PipelineShapedSink] = []

    def factory(scan, rig, out, plan):
        sinks.append(PipelineShapedSink())
        return sinks[-1]

    win = MainWindow(
        flat_rig,
        analysis_factory=factory,
        ask=lambda *a: True,
        live_on_connect=False,
        scan=_scan(tmp_path, rows=1, columns=3),
    )
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.panel.position is not None, timeout=5000)
    win.start_scan()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=20_000)
    qtbot.waitUntil(lambda: len(win.results.cells) == 6, timeout=5000)  # duplicates left out
    assert "dup" not in win.results.cells
    qtbot.waitUntil(
        lambda: (
            win.results.differential.current is not None
            and win.results.differential.current.total == 6
        ),
        timeout=5000,
    )
    qtbot.waitUntil(
        lambda: all("stained" in t.images for t in win.scan_view.mosaic.tiles.values()),
        timeout=5000,
    )


def test_device_error_pauses_with_advice_and_resume_finishes(qtbot, small_rig_config, tmp_path):
    from tests.conftest import FlatWorld
    from uvscope.sim.devices import build_sim_rig
    from uvscope.sim.faults import FaultInjector

    faults = FaultInjector()
    cam = small_rig_config.camera
    rig = build_sim_rig(
        small_rig_config,
        faults=faults,
        renderer=FlatWorld(cam.width_px, cam.height_px, cam.pixel_size_um),
    )
    win, _ = _window(qtbot, rig, tmp_path, scan=_scan(tmp_path, rows=1, columns=4, analysis=False))
    # the stage stalls on every move after the first two tile moves, until the operator acts
    rule = faults.add("stage", "move", "stall", after=3, count=None)
    win.start_scan()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.PAUSED, timeout=20_000)
    assert win.banner.isVisible()
    text = win.banner.label.text()
    assert "stalled" in text and "Resume" in text
    assert win.scan_view.resume_button.isEnabled()
    rule.count = rule.fired  # the operator cleared the stage
    win.scan_view.resume_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=20_000)
    assert not win.banner.isVisible()
    assert win.scan_view.progress_bar.value() == 4
