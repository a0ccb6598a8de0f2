"""Device, storage and analysis faults: the scan recovers or stops cleanly, files stay whole,
and ``--resume`` finishes the scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.acquisition._focus_world import small_rig, small_scan
from uvscope.acquisition.engine import ScanEngine
from uvscope.errors import ScanError, StorageError
from uvscope.io.ome import read_ome_tiff
from uvscope.io.scanfolder import ScanFolder
from uvscope.sim.faults import FaultInjector

TILES = 8


def _scan():
    return small_scan(rows=2, columns=4)


def _events(out: Path) -> list[dict]:
    return ScanFolder(out).read_events()


def assert_folder_intact(out: Path) -> None:
    """Every TIFF opens, no temporary file is left, every journal line parses."""
    tiffs = list(out.rglob("*.tif"))
    assert tiffs
    for p in tiffs:
        read_ome_tiff(p)
    assert not list(out.rglob("*.part"))
    for line in (out / "tiles.jsonl").read_text().splitlines():
        json.loads(line)


@pytest.mark.parametrize(
    "device,op,fault",
    [
        ("stage", "move", "stall"),
        ("stage", "wait", "timeout"),
        ("focus", "wait", "stall"),
        ("filter_wheel", "wait", "disconnect"),
        ("camera", "trigger", "disconnect"),
        ("camera", "read", "frame_timeout"),
    ],
)
def test_a_transient_device_fault_is_retried_and_the_scan_completes(tmp_path, device, op, fault):
    faults = FaultInjector()
    faults.add(device, op, fault, after=6, count=1)
    rig, _ = small_rig(faults=faults)
    out = tmp_path / "s"
    summary = ScanEngine(rig, _scan(), out).run()
    assert faults.injected == 1
    assert summary.status == "complete" and summary.tiles_done == TILES
    kinds = [e["kind"] for e in _events(out)]
    assert "device-error" in kinds and "recovered" in kinds
    err = next(e for e in _events(out) if e["kind"] == "device-error")
    assert "injected fault" in err["message"]
    assert_folder_intact(out)


def test_a_lasting_fault_stops_cleanly_and_resume_finishes(tmp_path):
    faults = FaultInjector()
    faults.add("stage", "move", "stall", after=4, count=None)
    rig, _ = small_rig(faults=faults)
    out = tmp_path / "s"
    with pytest.raises(ScanError, match="stalled.*--resume") as info:
        ScanEngine(rig, _scan(), out).run()
    assert str(out) in str(info.value)
    folder = ScanFolder(out)
    assert folder.read_manifest()["status"] == "failed"
    assert "failed" in [e["kind"] for e in folder.read_events()]
    done_before = len(folder.verified_tiles())
    assert 0 < done_before < TILES
    assert_folder_intact(out)
    faults.rules.clear()  # the stage is fixed
    summary = ScanEngine(rig, _scan(), out, resume=True).run()
    assert summary.status == "complete" and summary.tiles_done == TILES
    assert summary.tiles_acquired_now == TILES - done_before
    assert_folder_intact(out)


def test_a_full_disk_stops_cleanly_and_resume_finishes(tmp_path):
    faults = FaultInjector()
    faults.add("disk", "write", "disk_full", after=9, count=1)
    rig, _ = small_rig(faults=faults)
    out = tmp_path / "s"
    eng = ScanEngine(rig, _scan(), out)
    eng.storage_hook = faults.storage_hook()
    with pytest.raises(ScanError, match="No space left on device.*--resume"):
        eng.run()
    assert ScanFolder(out).read_manifest()["status"] == "failed"
    assert_folder_intact(out)
    summary = ScanEngine(rig, _scan(), out, resume=True).run()  # space freed
    assert summary.tiles_done == TILES
    assert_folder_intact(out)


class FailsOnTile:
    """An analysis sink that raises on one tile."""

    lossless = True

    def __init__(self, bad: int) -> None:
        self.bad, self.seen = bad, []

    def put(self, tile) -> None:
        if tile.index == self.bad:
            raise RuntimeError("segmentation blew up")
        self.seen.append(tile.index)

    def close(self) -> None:
        pass


def test_an_analysis_exception_on_one_tile_is_recorded_and_the_scan_goes_on(tmp_path):
    rig, _ = small_rig()
    sink = FailsOnTile(3)
    out = tmp_path / "s"
    summary = ScanEngine(rig, _scan(), out, sinks=[sink]).run()
    assert summary.status == "complete" and summary.tiles_done == TILES
    assert sorted(sink.seen) == [i for i in range(TILES) if i != 3]
    errs = [e for e in _events(out) if e["kind"] == "sink-error"]
    assert len(errs) == 1 and errs[0]["tile"] == 3 and "segmentation blew up" in errs[0]["message"]


def test_cli_resume_finishes_a_scan_stopped_by_a_fault(tmp_path):
    """The real simulated world, stopped by a camera that will not come back, then
    ``uvscope scan --resume`` with the folder's own rig and scan."""
    from uvscope.cli import main
    from uvscope.config import CameraConfig, RigConfig
    from uvscope.sim.devices import build_sim_rig

    cfg = RigConfig(camera=CameraConfig(width_px=96, height_px=72, pixel_size_um=0.5))
    faults = FaultInjector()
    faults.add("camera", "trigger", "disconnect", after=6, count=None)  # 4 for backgrounds
    rig = build_sim_rig(cfg, faults=faults)
    out = tmp_path / "s"
    scan = small_scan(center=(42.5, 32.5), rows=2, columns=2)
    with pytest.raises(ScanError):
        ScanEngine(rig, scan, out).run()
    assert len(ScanFolder(out).verified_tiles()) < 4
    r = CliRunner().invoke(main, ["scan", "--resume", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    folder = ScanFolder(out)
    assert folder.read_manifest()["status"] == "complete"
    assert len(folder.verified_tiles()) == 4
    assert_folder_intact(out)


def test_resume_takes_again_tiles_whose_files_are_truncated_or_unreadable(tmp_path):
    rig, _ = small_rig()
    out = tmp_path / "s"
    scan = small_scan(rows=2, columns=4).replace(save_raw=True)
    ScanEngine(rig, scan, out).run()
    folder = ScanFolder(out)
    # with raw frames kept, the raw file is the tile's only image (normalised derived on read)
    tile2, raw5, tile6 = folder.raw_path(2, 260), folder.raw_path(5, 260), folder.raw_path(6, 260)
    tile2.write_bytes(tile2.read_bytes()[:-2000])  # cut short inside the pixels
    raw5.write_bytes(raw5.read_bytes()[:500])  # cut short in the header
    tile6.write_bytes(b"")
    good, bad = folder.verify_tiles()
    assert sorted(bad) == [2, 5, 6] and sorted(good) == [0, 1, 3, 4, 7]
    assert "truncated" in bad[2] and "raw" in bad[5]
    summary = ScanEngine(rig, scan, out, resume=True).run()
    assert summary.status == "complete" and summary.tiles_acquired_now == 3
    assert summary.tiles_done == TILES
    assert_folder_intact(out)
    damaged = [e["tile"] for e in _events(out) if e["kind"] == "damaged-tile"]
    assert damaged == [2, 5, 6]


def test_damaged_files_give_clear_storage_errors(tmp_path):
    rig, _ = small_rig()
    out = tmp_path / "s"
    ScanEngine(rig, small_scan(columns=2), out).run()
    tile = next((out / "tiles").glob("*.tif"))
    tile.write_bytes(tile.read_bytes()[:300])  # truncated
    with pytest.raises(StorageError, match="truncated or damaged"):
        read_ome_tiff(tile)
    (out / "junk.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(StorageError, match="not a readable TIFF"):
        read_ome_tiff(out / "junk.tif")
    m = json.loads((out / "manifest.json").read_text())
    m["format_version"] = 99
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StorageError, match="format version 99"):
        ScanFolder.open(out)
    with pytest.raises(ScanError, match="format version 99"):  # the engine stops cleanly
        ScanEngine(rig, small_scan(columns=2), out, resume=True).run()
