"""Count N WBCs from the GUI: the set-up's target (with "Here" for the start), a scan that
grows ring by ring from the start and stops at N counted cells, drawn live on the Slide tab."""

from __future__ import annotations

from tests.gui.fake_analysis import FakeAnalysisSink
from tests.gui.identity import IDENTIFIED
from uvscope.acquisition.events import PrepStep, RunState
from uvscope.analysis.session import read_tiles
from uvscope.config import RegionConfig, ScanConfig
from uvscope.gui.main_window import MainWindow
from uvscope.io.scanfolder import ScanFolder


class CountingSink(FakeAnalysisSink):
    """The fake analysis (two cells a tile) with the stop rule of the scan's target."""

    def __init__(self, target: int) -> None:
        super().__init__()
        self.target = target

    def should_stop(self) -> bool:
        return len(self.labels) >= self.target


class ResumableCountingSink(CountingSink):
    """The counting stand-in with the analysis session's ``catch_up`` (same reader, same
    call-back): a resumed scan hands it the tiles saved before the interrupt."""

    def __init__(self, target: int, scan_dir) -> None:
        super().__init__(target)
        self.scan_dir = scan_dir
        self.seen: list[int] = []

    def put(self, tile) -> None:
        self.seen.append(tile.index)
        super().put(tile)

    def catch_up(self, before_tile=None) -> int:
        folder = ScanFolder.open(self.scan_dir)
        saved = folder.verified_tiles()
        for queued, tile in enumerate(read_tiles(folder, sorted(saved), saved)):
            if before_tile is not None:
                before_tile(tile, queued, len(saved))
            self.put(tile)
        return len(saved)


def _target_scan(tmp_path, wbc=6) -> ScanConfig:
    return ScanConfig(
        name="gui target",
        region=RegionConfig(center_mm=(40.0, 30.0), rows=2, columns=2),
        output_dir=tmp_path / "scan",
        sample=IDENTIFIED,
        target={"wbc": wbc, "start_mm": (40.0, 30.0), "max_area_mm2": 0.5},
        analysis={"enabled": True},
        background={"frames": 2, "dark_frames": 1},
    )


def test_the_form_offers_a_target_count_with_a_start_here_and_an_area(qtbot, flat_rig, tmp_path):
    win = MainWindow(flat_rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=False)
    qtbot.addWidget(win)
    form = win.form
    form.set_config(ScanConfig())
    assert form.by_region.isChecked() and not form.start_here.isEnabled()
    assert form.validate().target is None  # the fixed region stays as it was
    form.by_target.setChecked(True)
    assert form.target_n.currentText() == "200" and form.analysis_on.isChecked()
    assert {form.target_n.itemText(i) for i in range(form.target_n.count())} == {"100", "200"}
    assert not form.stop_on.isEnabled()  # the target is the stop rule
    form.position_mm = lambda: (41.25, 31.5)
    form.start_here.click()
    form.max_area.setValue(12.0)
    form.target_n.setCurrentText("100")
    cfg = form.validate()
    assert cfg is not None and cfg.target is not None
    assert (cfg.target.wbc, cfg.target.start_mm, cfg.target.max_area_mm2) == (
        100,
        (41.25, 31.5),
        12.0,
    )
    assert cfg.stop_after_wbc == 100 and cfg.analysis.stop_after_wbc is None
    form.set_config(cfg)  # a saved set-up comes back as it was
    assert form.validate() == cfg
    form.rig_config = flat_rig.config
    assert "Count 100 WBCs" in form.update_estimate().text()
    win.close()


def test_a_target_count_scan_from_the_gui_stops_at_n(qtbot, flat_rig, tmp_path):
    sinks: list[CountingSink] = []

    def factory(scan, rig, out, plan):
        sinks.append(CountingSink(scan.stop_after_wbc))
        return sinks[-1]

    scan = _target_scan(tmp_path, wbc=6)
    win = MainWindow(
        flat_rig, analysis_factory=factory, ask=lambda *a: True, live_on_connect=False, scan=scan
    )
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: set(win.panel.state.values()) == {"connected"}, timeout=5000)
    assert win.form.target_n.currentText() == "6"
    assert win.overview.start_mm == (40.0, 30.0)  # the start point is on the map
    win.scan_view.start_button.click()
    label = win.scan_view.target_label
    qtbot.waitUntil(lambda: label.text().startswith("Counting 6 WBCs"), timeout=10_000)
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=30_000)
    qtbot.waitUntil(win.panel.goto_button.isEnabled, timeout=20_000)
    manifest = ScanFolder.open(tmp_path / "scan").read_manifest()
    assert manifest["summary"]["status"] == "stopped-early"
    counted = len(sinks[0].labels)
    done = manifest["summary"]["tiles_done"]
    assert 6 <= counted <= 6 + 2 * 5  # two cells a tile; a few tiles in the writer's queue
    assert done == counted // 2
    plan = manifest["plan"]
    assert plan["positions"][0][3:] == [40.0, 30.0] and plan["tiles"] in (9, 25)
    assert win.overview.start_mm == (40.0, 30.0)
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) == done, timeout=5000)
    win.close()


def test_a_resumed_target_count_scan_counts_the_earlier_tiles_first(qtbot, flat_rig, tmp_path):
    """Interrupted after 10 tiles of a 40-WBC scan (two cells a tile), Resume in the GUI
    counts those 20 cells first (progress on the scan tab, tiles on the mosaic) and stops
    near 20 tiles in all; a count from 0 would have taken 20 new tiles."""
    sinks: list[ResumableCountingSink] = []

    def factory(scan, rig, out, plan):
        sinks.append(ResumableCountingSink(scan.stop_after_wbc, out))
        return sinks[-1]

    win = MainWindow(
        flat_rig,
        analysis_factory=factory,
        ask=lambda *a: True,
        live_on_connect=False,
        scan=_target_scan(tmp_path, wbc=40),
    )
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: set(win.panel.state.values()) == {"connected"}, timeout=5000)

    def interrupt_at_10(_plan) -> None:  # in the engine thread, at its 10th tile
        engine = win.controller.engine
        taken: list[int] = []

        def on_tile(tile) -> None:
            taken.append(tile.index)
            if len(taken) == 10:
                engine.interrupt("test interrupt")

        engine.events.tile_acquired.connect(on_tile)

    win.controller.plan_ready.connect(interrupt_at_10)
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.INTERRUPTED, timeout=60_000)
    win.controller.plan_ready.disconnect(interrupt_at_10)
    qtbot.waitUntil(win.panel.goto_button.isEnabled, timeout=20_000)
    folder = tmp_path / "scan"
    before = ScanFolder.open(folder).read_manifest()["summary"]["tiles_done"]
    assert 10 <= before < 20

    shown: list[tuple[int, int, str]] = []
    win.controller.preparing.connect(
        lambda p: (
            shown.append((p.done, p.total, win.scan_view.state_label.text()))
            if p.step == PrepStep.CATCH_UP
            else None
        )
    )
    win.resume_scan(folder)
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=60_000)
    qtbot.waitUntil(win.panel.goto_button.isEnabled, timeout=20_000)

    resumed = sinks[-1]
    assert sorted(resumed.seen[:before]) == list(range(before))  # the earlier tiles first
    assert [(d, t) for d, t, _ in shown] == [(k, before) for k in range(before + 1)]
    assert shown[0][2].startswith(f"Scan preparing: Counting the earlier tiles: tile 1 of {before}")
    summary = ScanFolder.open(folder).read_manifest()["summary"]
    assert summary["status"] == "stopped-early"
    counted = len(resumed.labels)
    assert counted >= 40 and counted == 2 * summary["tiles_done"]
    new = summary["tiles_acquired_now"]
    assert new == summary["tiles_done"] - before
    assert new < 20  # from 0 it takes 20 new tiles or more (the queue adds a few)
    qtbot.waitUntil(lambda: len(win.scan_view.mosaic.tiles) == summary["tiles_done"], timeout=5000)
    win.close()
