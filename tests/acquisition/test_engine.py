import threading
from pathlib import Path

import numpy as np
import pytest

from tests.faults import full_disk_at_tile
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.events import RunState
from uvscope.acquisition.prepare import prepare_scan, run_scan
from uvscope.acquisition.writer import LatestTile
from uvscope.config import RegionConfig, ScanConfig, WavelengthConfig
from uvscope.errors import ScanAborted, ScanError
from uvscope.io.ome import read_ome_tiff
from uvscope.io.scanfolder import ScanFolder
from uvscope.sim.faults import FaultInjector


def small_scan(rows=2, columns=3, nms=(260,), **kw) -> ScanConfig:
    """Fixed focus, unchecked, unless asked: these tests are about the engine's mechanics."""
    kw.setdefault("focus", {"mode": "fixed", "refocus_threshold": 0.0})
    return ScanConfig(
        region=RegionConfig(center_mm=(42.5, 32.5), rows=rows, columns=columns),
        wavelengths=tuple(
            WavelengthConfig(nm=n, exposure_ms=e)
            for n, e in zip(nms, (50.0, 5.0, 40.0)[: len(nms)], strict=True)
        ),
        **kw,
    )


def test_scan_writes_every_tile_with_metadata(flat_rig, tmp_path: Path):
    out = tmp_path / "scan"
    states, tiles = [], []
    engine = prepare_scan(flat_rig, small_scan(nms=(260, 280)), out)  # the stage mosaics too
    engine.events.state_changed.connect(states.append)
    engine.events.tile_acquired.connect(tiles.append)
    summary = engine.run()
    assert summary.status == "complete" and summary.tiles_done == 6
    assert states == [RunState.PREPARING, RunState.RUNNING, RunState.FINISHED]
    assert [t.index for t in tiles] == list(range(6))
    folder = ScanFolder.open(out)
    assert folder.read_manifest()["status"] == "complete"
    recs = folder.tile_records()
    for t in tiles:
        for nm in (260, 280):
            # raw kept: the normalised tile is not stored twice, but read back bit for bit
            assert not folder.tile_path(t.index, nm).exists()
            img, meta = folder.read_tile(t.index, nm)
            assert img.dtype == np.float32 and img.shape == (96, 128)
            np.testing.assert_array_equal(img, t.normalised[nm])
            assert meta.wavelength_nm == nm and meta.pixel_size_um == 0.5
            assert meta.x_mm == pytest.approx(t.x_mm) and meta.y_mm == pytest.approx(t.y_mm)
            assert meta.exposure_ms == pytest.approx(t.exposure_ms[nm])
            raw, _ = read_ome_tiff(folder.raw_path(t.index, nm))
            assert raw.dtype == np.uint16
            np.testing.assert_array_equal(raw, t.raw[nm])
        assert recs[t.index].x_mm == pytest.approx(t.x_mm)
    assert folder.mosaic_path(260).exists() and folder.mosaic_path(280).exists()


def test_normalisation_flattens_a_blank_field(flat_rig, tmp_path: Path):
    # the FlatWorld is blank near x = 35 mm: a tile there must normalise to ~1 everywhere
    scan = ScanConfig(
        region=RegionConfig(center_mm=(35.0, 25.0), rows=1, columns=1),
        background={"position_mm": (35.0, 25.0)},
    )
    tiles = []
    engine = ScanEngine(flat_rig, scan, tmp_path / "s")
    engine.events.tile_acquired.connect(tiles.append)
    engine.run()
    norm = tiles[0].normalised[260]
    assert abs(float(norm.mean()) - 1.0) < 0.02 and float(norm.std()) < 0.02


def test_wavelength_order_alternates_to_save_wheel_moves(flat_rig, tmp_path: Path):
    engine = ScanEngine(
        flat_rig, small_scan(rows=2, columns=3, nms=(260, 280, 300)), tmp_path / "s"
    )
    moves_before = []
    engine.events.state_changed.connect(
        lambda s: (
            moves_before.append(flat_rig.filter_wheel.moves) if s == RunState.RUNNING else None
        )
    )
    engine.run()
    tile_moves = flat_rig.filter_wheel.moves - moves_before[0]
    # 6 tiles x 3 wavelengths: 2 moves per tile when the order alternates (not 3)
    assert tile_moves <= 2 * 6


def test_readout_overlaps_the_next_move(flat_rig, tmp_path: Path):
    scan = small_scan(rows=1, columns=4)
    summary = run_scan(flat_rig, scan, tmp_path / "s")
    cam, stage = flat_rig.config.camera, flat_rig.stage
    step_mm = 128 * 0.5e-3 * 0.85
    move = stage.move_duration_s(step_mm, 0, (0, 0)) + stage.cfg.settle_ms / 1000
    expose_read = 0.050 + cam.readout_ms / 1000
    first = (
        stage.move_duration_s(42.5 - 1.5 * step_mm, 32.5, (35.0, 25.0)) + stage.cfg.settle_ms / 1000
    )
    one_by_one = first + 4 * expose_read + 3 * move
    # the next exposure starts while the last frame is read out (interline CCD)
    assert move + 0.050 > cam.readout_ms / 1000  # so readouts never hold the scan back
    overlapped = first + 4 * 0.050 + 3 * move + cam.readout_ms / 1000
    assert summary.device_time_s < one_by_one - 0.9 * 3 * min(move, cam.readout_ms / 1000)
    assert summary.device_time_s == pytest.approx(overlapped, rel=0.02)


def test_pause_and_resume_from_another_thread(flat_rig, tmp_path: Path):
    engine = ScanEngine(flat_rig, small_scan(rows=3, columns=3), tmp_path / "s")
    paused = threading.Event()
    seen_pause = []

    def on_tile(tile):
        if tile.index == 2 and not paused.is_set():
            engine.pause()
            paused.set()
            threading.Timer(0.2, engine.resume).start()

    engine.events.tile_acquired.connect(on_tile)
    engine.events.state_changed.connect(seen_pause.append)
    summary = engine.run()
    assert RunState.PAUSED in seen_pause and summary.tiles_done == 9


def test_abort_keeps_files_and_resume_finishes_without_redoing(flat_rig, tmp_path: Path):
    out = tmp_path / "s"
    engine = ScanEngine(flat_rig, small_scan(rows=3, columns=3), out)
    engine.events.tile_acquired.connect(lambda t: engine.abort() if t.index == 3 else None)
    with pytest.raises(ScanAborted, match="--resume"):
        engine.run()
    folder = ScanFolder.open(out)
    assert folder.read_manifest()["status"] == "aborted"
    done_before = set(folder.verified_tiles())
    assert done_before == {0, 1, 2, 3}
    frames_before = flat_rig.camera.frames
    acquired = []
    e2 = ScanEngine(flat_rig, small_scan(rows=3, columns=3), out, resume=True)
    e2.events.tile_acquired.connect(lambda t: acquired.append(t.index))
    summary = e2.run()
    assert summary.status == "complete" and summary.tiles_done == 9
    assert acquired == [4, 5, 6, 7, 8]
    # no new background or dark frames: the saved ones are reused
    assert flat_rig.camera.frames - frames_before == 5


def test_torn_journal_line_redoes_that_tile(flat_rig, tmp_path: Path):
    out = tmp_path / "s"
    run_scan(flat_rig, small_scan(rows=1, columns=3), out)
    folder = ScanFolder(out)
    lines = folder.journal_path.read_text().splitlines()
    folder.journal_path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:25])  # killed mid-write
    acquired = []
    e = ScanEngine(flat_rig, small_scan(rows=1, columns=3), out, resume=True)
    e.events.tile_acquired.connect(lambda t: acquired.append(t.index))
    e.run()
    assert acquired == [2]


def test_device_fault_is_retried_then_stops_cleanly(small_rig_config, tmp_path: Path):
    from tests.conftest import FlatWorld
    from uvscope.sim.devices import build_sim_rig

    faults = FaultInjector()
    rig = build_sim_rig(small_rig_config, faults=faults, renderer=FlatWorld(128, 96, 0.5))
    faults.add("camera", "read", "frame_timeout", after=18, count=1)  # recovered by a retry
    summary = run_scan(rig, small_scan(rows=2, columns=2), tmp_path / "a")
    assert summary.status == "complete"
    events = ScanFolder(tmp_path / "a").read_events()
    assert any(e["kind"] == "device-error" for e in events)

    faults.add("stage", "move", "disconnect", count=None)  # never recovers
    with pytest.raises(ScanError, match="resume"):
        run_scan(rig, small_scan(rows=2, columns=2), tmp_path / "b")
    assert ScanFolder(tmp_path / "b").read_manifest()["status"] == "failed"


def test_lossy_sink_keeps_latest(flat_rig, tmp_path: Path):
    live = LatestTile()
    run_scan(flat_rig, small_scan(rows=1, columns=3), tmp_path / "s", sinks=[live])
    assert live.received == 3 and live.take().index == 2


def test_existing_folder_is_not_overwritten(flat_rig, tmp_path: Path):
    run_scan(flat_rig, small_scan(rows=1, columns=1), tmp_path / "s")
    with pytest.raises(ScanError, match="already holds a scan"):
        run_scan(flat_rig, small_scan(rows=1, columns=1), tmp_path / "s")


class StopAfter:
    """A lossless sink with a stop rule, like the analysis worker's N-WBC rule."""

    lossless = True

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, []

    def put(self, tile):
        self.seen.append(tile.index)

    def should_stop(self) -> bool:
        return len(self.seen) >= self.n

    def close(self):
        pass


def test_stop_rule_ends_the_scan_early(flat_rig, tmp_path: Path):
    sink = StopAfter(3)
    summary = run_scan(flat_rig, small_scan(rows=3, columns=3), tmp_path / "s", sinks=[sink])
    assert summary.status == "stopped-early"
    # a lossless sink gets each tile from the writer once it is on disk, so the rule fires
    # while the tiles behind it are still in the writer's queue (2), being written (1), held
    # by the engine (1) and in flight (1): those are finished and kept, nothing after them
    assert sink.seen == list(range(len(sink.seen))) and 3 <= len(sink.seen) <= 8
    assert set(ScanFolder(tmp_path / "s").verified_tiles()) == set(sink.seen)


def test_every_tile_once_in_order_despite_faults(small_rig_config, tmp_path: Path):
    from tests.conftest import FlatWorld
    from uvscope.sim.devices import build_sim_rig

    faults = FaultInjector()
    rig = build_sim_rig(small_rig_config, faults=faults, renderer=FlatWorld(128, 96, 0.5))
    faults.add("camera", "read", "frame_timeout", after=20, count=1)  # during backgrounds
    seen = []
    engine = ScanEngine(rig, small_scan(rows=3, columns=3, nms=(260, 280)), tmp_path / "s")

    def tile_faults(state):
        if state == RunState.RUNNING:  # counted from the first tile on
            for after in (3, 8):
                faults.add("camera", "read", "frame_timeout", after=after, count=1)
            faults.add("stage", "move", "timeout", after=5, count=1)

    engine.events.state_changed.connect(tile_faults)
    engine.events.tile_acquired.connect(lambda t: seen.append(t.index))
    assert engine.run().status == "complete"
    assert sorted(seen) == list(range(9)) and len(seen) == 9
    assert set(ScanFolder(tmp_path / "s").verified_tiles()) == set(range(9))
    assert len(faults.log) == 4


class FailsAtClose:
    """A lossless sink (like the analysis) whose end-of-scan work fails."""

    lossless = True

    def put(self, tile):
        pass

    def close(self):
        raise RuntimeError("mosaic could not be built")


def test_analysis_failing_at_the_end_keeps_the_scan_complete(flat_rig, tmp_path: Path):
    summary = run_scan(
        flat_rig, small_scan(rows=1, columns=2), tmp_path / "s", sinks=[FailsAtClose()]
    )
    assert summary.status == "complete" and summary.tiles_done == 2
    assert any("uvscope analyze" in e for e in summary.errors)
    folder = ScanFolder.open(tmp_path / "s")
    assert folder.read_manifest()["status"] == "complete"
    assert any(e["kind"] == "sink-error" for e in folder.read_events())


def test_a_lossless_sink_gets_only_the_tiles_the_writer_saved(flat_rig, tmp_path: Path):
    """A full disk at the third tile: the analysis-like sink never sees a tile not on disk."""
    sink = StopAfter(100)
    out = tmp_path / "s"
    engine = ScanEngine(flat_rig, small_scan(rows=2, columns=3), out, sinks=[sink])

    engine.storage_hook = full_disk_at_tile(2)
    with pytest.raises(ScanError, match="No space left on device"):
        engine.run()
    assert sink.seen == [0, 1] == sorted(ScanFolder(out).verified_tiles())
