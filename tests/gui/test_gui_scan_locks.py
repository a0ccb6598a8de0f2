"""During a scan the window keeps its hands off the devices; closing never waits for the
analysis; a spent retry budget pauses with a banner."""

from __future__ import annotations

import json
import time

from tests.conftest import FlatWorld
from tests.gui.fake_analysis import FakeAnalysisSink
from tests.gui.identity import IDENTIFIED
from uvscope.acquisition.events import RunState
from uvscope.config import RegionConfig, ScanConfig
from uvscope.gui.main_window import MainWindow


class SlowWorld(FlatWorld):
    def render(self, *args, **kwargs):
        time.sleep(0.02)
        return super().render(*args, **kwargs)


class SlowAnalysis(FakeAnalysisSink):
    """An analysis that takes far longer to finish than anyone waits for at closing time."""

    def close(self) -> None:
        time.sleep(60)
        super().close()


def _scan(tmp_path, rows=6, columns=6, analysis=False) -> ScanConfig:
    return ScanConfig(
        name="gui test",
        region=RegionConfig(center_mm=(40.0, 30.0), rows=rows, columns=columns),
        output_dir=tmp_path / "scan",
        sample=IDENTIFIED,
    ).replace(
        analysis={"enabled": analysis},
        background={"frames": 2, "dark_frames": 1},
        focus={"mode": "fixed"},
    )


def _rig(small_rig_config, faults=None):
    from uvscope.sim.devices import build_sim_rig

    cam = small_rig_config.camera
    return build_sim_rig(
        small_rig_config,
        faults=faults,
        renderer=SlowWorld(cam.width_px, cam.height_px, cam.pixel_size_um),
    )


def _window(qtbot, rig, scan, sink_type=FakeAnalysisSink):
    sinks: list[FakeAnalysisSink] = []

    def factory(scan, rig, out, plan):
        sinks.append(sink_type())
        return sinks[-1]

    win = MainWindow(
        rig, analysis_factory=factory, ask=lambda *a: True, live_on_connect=False, scan=scan
    )
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: set(win.panel.state.values()) == {"connected"}, timeout=5000)
    return win, sinks


def test_live_view_is_locked_during_a_scan(qtbot, small_rig_config, tmp_path):
    # long enough that it is still running while the locks are checked on a fast machine
    win, _ = _window(qtbot, _rig(small_rig_config), _scan(tmp_path, rows=8, columns=8))
    refused: list[str] = []
    win.live_session.refused.connect(refused.append)
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) >= 1, timeout=20_000)
    assert not win.panel.goto_button.isEnabled()  # device controls locked
    win.live.wavelength_requested.emit(280)  # the Live tab's wavelength buttons
    win.live_session.start()  # the Live menu
    qtbot.wait(200)
    assert win.live_session.live is None and len(refused) == 2
    assert "scan is running" in refused[0]
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=30_000)
    # the locks go when the scan's summary arrives (just after its last state change): the
    # device controls coming back are what tells the operator live view is free again
    qtbot.waitUntil(lambda: win.panel.goto_button.isEnabled(), timeout=30_000)
    win.live_session.start()
    qtbot.waitUntil(lambda: win.live_session.live is not None, timeout=5000)
    win.live_session.stop()


def test_closing_mid_scan_stops_now_and_leaves_the_analysis(qtbot, small_rig_config, tmp_path):
    win, sinks = _window(
        qtbot, _rig(small_rig_config), _scan(tmp_path, analysis=True), sink_type=SlowAnalysis
    )
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) >= 2, timeout=20_000)
    t0 = time.monotonic()
    win.close()
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=15_000)
    assert time.monotonic() - t0 < 15  # the 60 s analysis close was not waited for
    assert not sinks[0].closed
    folder = tmp_path / "scan"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    events = [json.loads(x)["kind"] for x in (folder / "events.jsonl").read_text().splitlines()]
    assert "interrupted" in events


def test_a_spent_retry_budget_pauses_with_a_banner(qtbot, small_rig_config, tmp_path):
    from uvscope.sim.faults import FaultInjector

    faults = FaultInjector()
    rule = faults.add("camera", "read", "frame_timeout", after=12, count=None)
    win, _ = _window(qtbot, _rig(small_rig_config, faults), _scan(tmp_path, rows=2, columns=3))
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: win.banner.isVisible(), timeout=20_000)
    assert "Retries used up" in win.banner.label.text()
    assert win.controller.engine.state == RunState.PAUSED
    fired = rule.fired
    qtbot.wait(300)
    assert rule.fired == fired  # paused: no retries behind the banner
    rule.count = rule.fired  # the camera is fixed
    win._resume()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=20_000)
