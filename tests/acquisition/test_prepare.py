"""``prepare_scan``: every check before the analysis sink is built, then the sinks wired."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acquisition.test_engine import small_scan
from uvscope.acquisition.engine import run_scan
from uvscope.acquisition.prepare import prepare_scan
from uvscope.errors import UvscopeError
from uvscope.io.scanfolder import ScanFolder


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
    assert engine.user_sinks == [shown, analysis]
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
        assert engine.user_sinks == []
    finally:
        engine.release()
