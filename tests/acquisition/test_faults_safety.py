"""Safety: no move is ever asked outside the soft limits; abort stops every axis at once."""

from __future__ import annotations

import threading
import time

import pytest

from tests.acquisition._focus_world import TiltedWorld, small_scan
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.events import RunState
from uvscope.config import CameraConfig, FocusConfig, RigConfig, SimConfig, StageConfig
from uvscope.errors import LimitError, ScanError
from uvscope.sim.devices import build_sim_rig
from uvscope.sim.faults import FaultInjector


def _rig(
    focus_limits=(0.0, 10_000.0),
    real_time=False,
    velocity=50.0,
    faults=None,
    x_limits=(0.0, 110.0),
    blank_mm=(35.0, 25.0),
):
    cfg = RigConfig(
        camera=CameraConfig(width_px=128, height_px=96, pixel_size_um=0.5, readout_ms=10.0),
        focus=FocusConfig(limits_um=focus_limits),
        stage=StageConfig(velocity_mm_s=velocity, x_limits_mm=x_limits),
        sim=SimConfig(real_time=real_time),
    )
    return build_sim_rig(cfg, faults=faults, renderer=TiltedWorld(128, 96, 0.5, blank_mm=blank_mm))


def _inside(rig) -> None:
    (x0, x1), (y0, y1) = rig.stage.x_limits_mm, rig.stage.y_limits_mm
    assert rig.stage.requested and all(
        x0 <= x <= x1 and y0 <= y <= y1 for x, y in rig.stage.requested
    )
    z0, z1 = rig.focus.limits_um
    assert rig.focus.requested and all(z0 <= z <= z1 for z in rig.focus.requested)


def test_map_scans_with_faults_never_ask_past_the_objective_limit(tmp_path):
    """Focus limits just above the slide: sweeps must be clipped, not refused."""
    faults = FaultInjector(seed=3)
    faults.add("stage", "move", "timeout", probability=0.05)
    faults.add("camera", "read", "frame_timeout", probability=0.03)
    rig = _rig(focus_limits=(4980.0, 5004.0), faults=faults)
    scan = small_scan(center=(44.0, 33.0), rows=2, columns=5, mode="map", map_points=4)
    ScanEngine(rig, scan, tmp_path / "s", tile_retries=3).run()
    assert faults.injected > 0
    _inside(rig)
    assert max(rig.focus.requested) == 5004.0  # the sweep reached the limit and stopped there


def test_a_region_outside_the_limits_is_refused_before_anything_moves(tmp_path):
    rig = _rig(x_limits=(0.0, 44.0))
    with pytest.raises(ScanError, match="x_limits_mm"):
        ScanEngine(rig, small_scan(center=(44.0, 33.0), columns=6), tmp_path / "s").run()
    assert rig.stage.requested == [] and rig.focus.requested == []


def test_an_out_of_limits_request_is_recorded_and_refused():
    rig = _rig(focus_limits=(0.0, 5000.0))
    with pytest.raises(LimitError, match="focus.limits_um"):
        rig.focus.move_to_um(5000.5)
    assert rig.focus.requested == [5000.5] and rig.focus.position_um() <= 5000.0


def test_abort_stops_every_axis_within_one_status_poll(tmp_path):
    """Real time: abort while the stage crosses 7.5 mm at 5 mm/s to the first tile."""
    rig = _rig(real_time=True, velocity=5.0, blank_mm=(42.5, 32.6))
    eng = ScanEngine(rig, small_scan(center=(50.0, 32.5), columns=2), tmp_path / "s")
    running = threading.Event()
    eng.events.state_changed.connect(lambda s: running.set() if s == RunState.RUNNING else None)
    eng.start()
    assert running.wait(20)
    deadline = time.monotonic() + 5
    while not rig.stage.moving and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.3)  # well into the move
    assert rig.stage.moving
    eng.abort()
    stopped_at = rig.stage.position_mm()
    assert not rig.stage.moving
    time.sleep(0.2)
    assert rig.stage.position_mm() == stopped_at  # no axis creeps on
    summary = eng.join(timeout=2 * rig.stage.poll_s + 1.0)
    assert summary is not None and summary.status == "aborted"
    assert summary.tiles_done == 0  # no tile recorded at the stopped position
