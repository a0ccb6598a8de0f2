"""``prepare_scan``: every check before the analysis sink is built, then the sinks wired, the
stage mosaics last (the output side's, not the engine's: ended after the analysis drains)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tifffile

from tests.acquisition.test_engine import small_scan
from tests.faults import full_disk_at_tile
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.prepare import prepare_scan, run_scan
from uvscope.errors import ScanError, StorageError, UvscopeError
from uvscope.io.scanfolder import ScanFolder
from uvscope.io.stage_sink import StageMosaicSink


class Seen:
    """A lossless sink that records the tiles it gets (stands in for the analysis)."""

    lossless = True

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.closed = False

    def put(self, tile) -> None:
        self.seen.append(tile.index)

    def close(self) -> None:
        self.closed = True


def test_the_analysis_sink_is_built_after_the_checks_and_gets_every_saved_tile(
    flat_rig, tmp_path: Path
) -> None:
    built: list[tuple] = []
    shown, analysis = Seen(), Seen()

    def factory(scan, rig, out_dir, plan):
        assert (out_dir / "manifest.json").exists() is False  # checked, nothing written yet
        built.append((rig, out_dir, len(plan.tiles)))
        return analysis

    scan = small_scan(rows=2, columns=2, analysis={"enabled": True})
    engine = prepare_scan(flat_rig, scan, tmp_path / "s", sinks=[shown], analysis=factory)
    assert built == [(flat_rig, tmp_path / "s", 4)]
    assert engine.user_sinks[:2] == [shown, analysis]
    assert [type(s) for s in engine.user_sinks[2:]] == [StageMosaicSink]
    summary = engine.run()
    assert summary.status == "complete"
    assert sorted(analysis.seen) == sorted(ScanFolder(tmp_path / "s").verified_tiles())
    assert analysis.closed and shown.closed


def test_a_refused_scan_builds_no_analysis_and_leaves_the_folder(flat_rig, tmp_path: Path) -> None:
    out = tmp_path / "s"
    run_scan(flat_rig, small_scan(rows=1, columns=2), out)  # a finished scan is there
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    calls: list[object] = []
    scan = small_scan(rows=1, columns=2, analysis={"enabled": True})
    with pytest.raises(UvscopeError):
        prepare_scan(flat_rig, scan, out, analysis=lambda *a: calls.append(a))
    assert calls == []
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    # the folder's lock was given back: a resume may claim it
    ScanFolder.claim(out).release()


def test_analysis_off_builds_no_analysis_sink(flat_rig, tmp_path: Path) -> None:
    engine = prepare_scan(
        flat_rig, small_scan(rows=1, columns=1), tmp_path / "s", analysis=lambda *a: Seen()
    )
    try:
        assert [type(s) for s in engine.user_sinks] == [StageMosaicSink]
    finally:
        engine.release()


class Draining(Seen):
    """An analysis that finishes at close: the stage mosaic must not be written before."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.mosaic_at_close: bool | None = None

    def close(self) -> None:
        files = (self.folder / "mosaic").glob("mosaic_*.ome.tif")
        status = ScanFolder.open(self.folder).read_manifest()["status"]
        self.mosaic_at_close = status == "writing-mosaic" or any(files)
        super().close()


def _mosaics(out: Path) -> dict[str, tuple[int, ...]]:
    return {p.name: tifffile.imread(p).shape for p in sorted((out / "mosaic").glob("*.tif"))}


def test_a_scan_with_or_without_analysis_finishes_its_stage_mosaics(
    flat_rig, tmp_path: Path
) -> None:
    scan = small_scan(rows=2, columns=3, nms=(260, 280))
    plain = prepare_scan(flat_rig, scan, tmp_path / "plain", analysis=lambda *a: Seen())
    assert plain.run().status == "complete"
    frames = _mosaics(tmp_path / "plain")
    assert list(frames) == ["mosaic_260.ome.tif", "mosaic_280.ome.tif"]

    out = tmp_path / "analysed"
    analysis = Draining(out)
    scan_a = small_scan(rows=2, columns=3, nms=(260, 280), analysis={"enabled": True})
    engine = prepare_scan(flat_rig, scan_a, out, analysis=lambda *a: analysis)
    assert engine.run().status == "complete"
    assert analysis.closed and analysis.mosaic_at_close is False  # the analysis drained first
    assert _mosaics(out) == frames  # the same planned frame
    manifest = ScanFolder.open(out).read_manifest()
    assert manifest["status"] == "complete" and manifest["mosaic"]["placement"] == "stage"

    # the engine alone makes no mosaic: it is the output side's sink, not the engine's
    assert ScanEngine(flat_rig, scan, tmp_path / "bare").run().status == "complete"
    assert _mosaics(tmp_path / "bare") == {}


def test_an_interrupted_scan_leaves_the_stage_mosaic_to_its_resume(
    flat_rig, tmp_path: Path
) -> None:
    out, scan = tmp_path / "s", small_scan(rows=2, columns=4)
    engine = prepare_scan(flat_rig, scan, out)
    engine.events.tile_acquired.connect(lambda t: t.index == 1 and engine.interrupt("test"))
    assert engine.run().status == "interrupted"
    assert _mosaics(out) == {}
    assert run_scan(flat_rig, scan, out, resume=True).status == "complete"
    assert list(_mosaics(out)) == ["mosaic_260.ome.tif"]


def test_a_stage_mosaic_that_cannot_be_written_fails_the_scan(
    flat_rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object, **kw: object) -> None:
        raise StorageError("no space left on device for the mosaic")

    monkeypatch.setattr("uvscope.io.stage_sink.write_stage_mosaics", full_disk)
    with pytest.raises(ScanError, match="no space left"):
        run_scan(flat_rig, small_scan(rows=1, columns=2), tmp_path / "s")
    folder = ScanFolder.open(tmp_path / "s")
    assert folder.read_manifest()["status"] == "failed"
    assert len(folder.verified_tiles()) == 2  # every tile kept


def test_a_failed_scan_writes_no_stage_mosaic(flat_rig, tmp_path: Path) -> None:
    engine = prepare_scan(flat_rig, small_scan(rows=2, columns=3), tmp_path / "s")

    engine.storage_hook = full_disk_at_tile(2)
    with pytest.raises(ScanError, match="No space left on device"):
        engine.run()
    assert _mosaics(tmp_path / "s") == {}
