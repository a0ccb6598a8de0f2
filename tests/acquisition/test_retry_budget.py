"""One retry policy: a budget per tile and per scan; spent -> stop (headless) or pause (GUI)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.acquisition._focus_world import small_rig, small_scan
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.events import RunState
from uvscope.acquisition.retry import RetryBudget
from uvscope.errors import ScanAborted, ScanError
from uvscope.io.scanfolder import ScanFolder
from uvscope.sim.faults import FaultInjector


def _errors(out: Path) -> list[dict]:
    return [e for e in ScanFolder(out).read_events() if e["kind"] == "device-error"]


def _scan(per_tile: int = 1, per_scan: int = 10, **kw):
    return small_scan(rows=2, columns=4, **kw).replace(
        retries={"per_tile": per_tile, "per_scan": per_scan}
    )


def test_the_budget_counts_a_tile_until_it_is_done() -> None:
    b = RetryBudget(per_tile=2, per_scan=5)
    assert b.charge("tile 3") and b.charge("tile 3")
    assert not b.charge("tile 3")  # a third error at the same tile
    assert b.charge("tile 4") and b.charge("tile 4")  # 5 in the scan
    assert not b.charge("tile 5")  # the scan's budget is spent
    b.grant("tile 5")  # the operator: try again
    assert b.charge("tile 5") and b.charge("tile 5") and not b.charge("tile 5")


@pytest.mark.parametrize("per_tile", [0, 1, 3])
def test_a_camera_that_never_reads_stops_after_the_tile_budget(
    tmp_path: Path, per_tile: int
) -> None:
    """Every read fails while triggers succeed: the count must not reset at each trigger."""
    faults = FaultInjector()
    faults.add("camera", "read", "frame_timeout", after=8, count=None)
    rig, _ = small_rig(faults=faults)
    out = tmp_path / "s"
    t0 = time.monotonic()
    with pytest.raises(ScanError, match="retry budget spent") as info:
        ScanEngine(rig, _scan(per_tile=per_tile), out).run()
    assert time.monotonic() - t0 < 30
    assert f"budget {per_tile} retries a tile" in str(info.value)
    errors = _errors(out)
    assert len(errors) == per_tile + 1
    assert len({e["tile"] for e in errors}) == 1  # all charged to the tile that lost frames
    assert ScanFolder(out).read_manifest()["status"] == "failed"


def test_scattered_errors_stop_at_the_scan_budget(tmp_path: Path) -> None:
    faults = FaultInjector(seed=3)
    faults.add("stage", "wait", "timeout", probability=0.5)
    rig, _ = small_rig(faults=faults)
    out = tmp_path / "s"
    with pytest.raises(ScanError, match=r"in the scan \(budget 3\)"):
        ScanEngine(rig, _scan(per_tile=20, per_scan=3), out).run()
    assert len(_errors(out)) == 4


def test_transient_errors_within_budget_complete_the_scan(tmp_path: Path) -> None:
    faults = FaultInjector()
    faults.add("camera", "read", "frame_timeout", after=4, count=2)
    rig, _ = small_rig(faults=faults)
    summary = ScanEngine(rig, _scan(per_tile=2), tmp_path / "s").run()
    assert summary.status == "complete" and summary.tiles_done == 8
    kinds = [e["kind"] for e in ScanFolder(tmp_path / "s").read_events()]
    assert kinds.count("device-error") == 2 and "recovered" in kinds


def test_gui_mode_pauses_with_a_banner_when_spent_and_resume_grants_more(tmp_path) -> None:
    faults = FaultInjector()
    rule = faults.add("camera", "read", "frame_timeout", after=8, count=None)
    rig, _ = small_rig(faults=faults)
    engine = ScanEngine(rig, _scan(per_tile=1), tmp_path / "s", on_device_error="pause")
    banners: list[str] = []
    engine.events.device_error.connect(banners.append)
    engine.start()
    t_end = time.monotonic() + 30
    while not banners and time.monotonic() < t_end:
        time.sleep(0.01)
    assert banners and "Retries used up" in banners[0] and "Resume" in banners[0]
    assert engine.state == RunState.PAUSED
    n = len(_errors(tmp_path / "s"))
    time.sleep(0.3)
    assert len(_errors(tmp_path / "s")) == n  # paused: no retries behind the banner
    rule.count = rule.fired  # the operator fixed the camera
    engine.resume()
    summary = engine.join(30)
    assert summary is not None and summary.status == "complete" and summary.tiles_done == 8


def test_pause_halts_retries_within_budget(tmp_path: Path) -> None:
    faults = FaultInjector()
    faults.add("camera", "read", "frame_timeout", after=8, count=None)
    rig, _ = small_rig(faults=faults)
    engine = ScanEngine(
        rig, _scan(per_tile=20, per_scan=1000), tmp_path / "s", on_device_error="pause"
    )
    first = threading.Event()
    engine.events.log.connect(lambda msg: (engine.pause(), first.set()))
    engine.start()
    assert first.wait(30)
    time.sleep(0.2)
    n = len(_errors(tmp_path / "s"))
    time.sleep(0.4)
    assert len(_errors(tmp_path / "s")) == n <= 2
    engine.abort()
    engine.join(30)
    assert isinstance(engine.error, ScanAborted)
