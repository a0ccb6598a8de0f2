"""Illumination drift: detection from tile statistics, scheduled and triggered backgrounds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.acquisition._focus_world import small_rig, small_scan
from uvscope.acquisition.drift import DriftMonitor
from uvscope.acquisition.engine import ScanEngine
from uvscope.config import BackgroundConfig
from uvscope.io.ome import read_ome_tiff


def _tile(level: float) -> dict[int, np.ndarray]:
    img = np.full((40, 40), level, np.float32)
    img[:10] *= 0.5  # some cells
    return {260: img}


def test_monitor_waits_for_a_baseline_then_flags_a_sustained_drift():
    mon = DriftMonitor(BackgroundConfig(drift_threshold_percent=5.0), 260, now_s=0.0)
    for _ in range(3):
        assert mon.update(_tile(1.0), 0.0)[1] is None
    assert mon.update(_tile(0.9), 0.0)[1] is None  # one dim tile is not a drift
    assert mon.update(_tile(1.0), 0.0)[1] is None
    assert mon.update(_tile(1.0), 0.0)[1] is None
    assert mon.update(_tile(0.9), 0.0)[1] is None  # median of 1.0, 1.0, 0.9: still none
    assert mon.update(_tile(0.9), 0.0)[1] is not None  # two of three dim: a drift
    level, due = mon.update(_tile(0.9), 0.0)
    assert level == pytest.approx(0.9)
    assert due is not None and due.reason == "drift" and due.drift_percent == pytest.approx(-10)
    mon.reset(0.0)
    assert mon.baseline is None and mon.update(_tile(0.9), 0.0)[1] is None


def test_monitor_schedules_by_tiles_and_by_minutes():
    mon = DriftMonitor(BackgroundConfig(repeat_every_tiles=4, drift_threshold_percent=0), 260, 0)
    due = []
    for _ in range(4):
        mon.tile_taken()
        due.append(mon.schedule_due(0.0))
    assert due[:3] == [None] * 3 and due[3].reason == "every-tiles"
    assert all(mon.update(_tile(1.0), 0.0)[1] is None for _ in range(5))  # delivery: no rule
    mon.reset(0.0)
    assert mon.schedule_due(0.0) is None
    mon.restore([1.0, 1.0, 1.0], age_s=30.0, now_s=100.0)  # a resume after 3 tiles
    mon.tile_taken()
    assert mon.schedule_due(100.0).reason == "every-tiles" and mon.age_s(100.0) == 30.0
    mon = DriftMonitor(BackgroundConfig(repeat_every_minutes=2.0), 260, now_s=100.0)
    assert mon.schedule_due(200.0) is None
    assert mon.schedule_due(221.0).reason == "every-minutes"
    mon.restore([], age_s=110.0, now_s=1000.0)  # resumed 110 s into the background's life
    assert mon.schedule_due(1009.0) is None and mon.schedule_due(1011.0) is not None


class DimAfter:
    """A sink that dims the simulated lamp by ``factor`` once ``n`` tiles are in."""

    lossless = True

    def __init__(self, world, n: int, factor: float) -> None:
        self.world, self.n, self.factor, self.seen = world, n, factor, 0

    def put(self, tile) -> None:
        self.seen += 1
        if self.seen == self.n:
            self.world.power *= self.factor

    def close(self) -> None:
        pass


def _records(out):
    return [json.loads(line) for line in (out / "tiles.jsonl").read_text().splitlines()]


def test_a_dimming_lamp_triggers_a_new_background_that_later_tiles_name(tmp_path):
    rig, world = small_rig()
    out = tmp_path / "s"
    ScanEngine(rig, small_scan(columns=14), out, sinks=[DimAfter(world, 5, 0.85)]).run()
    recs = sorted(_records(out), key=lambda r: r["index"])
    ids = [r["background_id"] for r in recs]
    assert ids[:5] == ["bg0"] * 5 and ids[-1] == "bg1" and set(ids) == {"bg0", "bg1"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert [b["id"] for b in manifest["backgrounds"]] == ["bg0", "bg1"]
    assert manifest["backgrounds"][1]["reason"] == "drift"
    assert manifest["backgrounds"][1]["drift_percent"] < -5
    read_ome_tiff(out / "background" / "bg_260_bg1.ome.tif")
    base = np.median([r["extra"]["clear_level"] for r in recs[:5]])
    for r in recs:
        if r["background_id"] == "bg1":  # normalised by the new background: level restored
            assert r["extra"]["clear_level"] == pytest.approx(base, rel=0.02)
    kinds = [json.loads(line)["kind"] for line in (out / "events.jsonl").read_text().splitlines()]
    assert "background" in kinds


def test_a_steady_lamp_keeps_one_background(tmp_path):
    rig, _ = small_rig()
    ScanEngine(rig, small_scan(rows=2, columns=10), tmp_path / "s").run()
    assert {r["background_id"] for r in _records(tmp_path / "s")} == {"bg0"}


def test_scheduled_backgrounds_and_resume_with_the_newest(tmp_path):
    from uvscope.errors import ScanError
    from uvscope.sim.faults import FaultInjector

    faults = FaultInjector()
    rig, _ = small_rig(faults=faults)
    scan = small_scan(columns=10).replace(
        background=BackgroundConfig(frames=2, dark_frames=2, repeat_every_tiles=3)
    )

    class StopAfter:
        lossless = False  # fed by the engine as each tile is taken (the lossless
        # sinks get it later, from the writer)
        seen = 0

        def put(self, tile):
            self.seen += 1
            if self.seen == 7:
                faults.add("camera", "trigger", "disconnect", count=None)

        def close(self):
            pass

    with pytest.raises(ScanError):
        ScanEngine(rig, scan, tmp_path / "s", sinks=[StopAfter()]).run()
    before = {r["index"] for r in _records(tmp_path / "s")}
    saved = json.loads((tmp_path / "s" / "manifest.json").read_text())["backgrounds"]
    assert len(saved) >= 2  # the schedule took the background again before the stop
    faults.rules.clear()
    ScanEngine(rig, scan, tmp_path / "s", resume=True).run()
    recs = sorted(_records(tmp_path / "s"), key=lambda r: r["index"])
    assert [r["index"] for r in recs] == list(range(10))
    ids = [int(r["background_id"].removeprefix("bg")) for r in recs]
    assert ids == sorted(ids) and ids[0] == 0
    counts = np.bincount(ids)
    assert counts[1:-1].tolist() == [3] * (len(counts) - 2) or len(counts) <= 2
    resumed = [r for r in recs if r["index"] not in before]
    assert resumed[0]["background_id"] == saved[-1]["id"]  # the newest background on disk


def _stop_then_resume(tmp_path, background, stop_after):
    """A 12-tile scan stopped by a lasting camera fault after ``stop_after`` tiles, resumed."""
    from uvscope.errors import ScanError
    from uvscope.sim.faults import FaultInjector

    faults = FaultInjector()
    rig, _ = small_rig(faults=faults)
    scan = small_scan(columns=12).replace(background=background)

    class StopAfter:
        lossless = False  # fed by the engine as each tile is taken (the lossless
        # sinks get it later, from the writer)
        seen = 0

        def put(self, tile):
            self.seen += 1
            if self.seen == stop_after:
                faults.add("camera", "trigger", "disconnect", count=None)

        def close(self):
            pass

    with pytest.raises(ScanError):
        ScanEngine(rig, scan, tmp_path / "s", sinks=[StopAfter()]).run()
    before = {r["index"] for r in _records(tmp_path / "s")}
    faults.rules.clear()
    ScanEngine(rig, scan, tmp_path / "s", resume=True).run()
    recs = sorted(_records(tmp_path / "s"), key=lambda r: r["index"])
    assert [r["index"] for r in recs] == list(range(12))
    return recs, before


def test_the_tile_schedule_carries_over_a_resume(tmp_path):
    bg = BackgroundConfig(frames=2, dark_frames=2, repeat_every_tiles=4, drift_threshold_percent=0)
    recs, before = _stop_then_resume(tmp_path, bg, stop_after=6)
    assert 4 < len(before) < 8  # stopped part-way through the second background's tiles
    counts = np.bincount([int(r["background_id"].removeprefix("bg")) for r in recs])
    assert counts.tolist() == [4, 4, 4]  # not 4, 2 + 4, ...: the count went on after resume


@pytest.mark.parametrize("stop_after", [6, 7])
def test_the_minutes_schedule_carries_over_a_resume(tmp_path, stop_after):
    rig, _ = small_rig()
    ScanEngine(rig, small_scan(columns=12), tmp_path / "probe").run()
    ages = [r["extra"]["background_age_s"] for r in _records(tmp_path / "probe")]
    # checked just after each tile's exposure (about half a tile period after it starts):
    # due after the fourth tile
    minutes = (ages[2] + 0.75 * (ages[3] - ages[2])) / 60
    bg = BackgroundConfig(
        frames=2, dark_frames=2, repeat_every_minutes=minutes, drift_threshold_percent=0
    )
    recs, before = _stop_then_resume(tmp_path, bg, stop_after=stop_after)
    ids = [r["background_id"] for r in recs]
    counts = np.bincount([int(i.removeprefix("bg")) for i in ids]).tolist()
    assert counts == [4, 4, 4]  # the background in use at the stop did not get extra tiles
    first = min(set(range(12)) - before)  # the first tile taken after the resume
    if ids[first] == ids[first - 1]:  # the background's age went on, it did not restart
        assert (
            recs[first]["extra"]["background_age_s"] > recs[first - 1]["extra"]["background_age_s"]
        )
