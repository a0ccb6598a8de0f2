"""`uvscope scan` with a target count ([target] or --target-wbc): bad input ends in one line
naming the field, exit 2, nothing written; a good one scans rings until the area is used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.cli import main
from uvscope.io.scanfolder import ScanFolder

SCAN = small_scan(2, 2)
TARGET = "[target]\nwbc = 5\nmax_area_mm2 = 1.0\n[analysis]\nenabled = true\n"


def _run(tmp_path: Path, body: str, *extra: str) -> tuple[int, str]:
    (tmp_path / "rig.toml").write_text(SMALL_RIG)
    (tmp_path / "scan.toml").write_text(body)
    args = ["scan", "--config", str(tmp_path / "scan.toml"), "--rig", str(tmp_path / "rig.toml")]
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o"), "--quiet", *extra])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    return r.exit_code, " ".join(r.output.split())


@pytest.mark.parametrize(
    ("body", "extra", "expect"),
    [
        (SCAN + TARGET.replace("wbc = 5", "wbc = 0"), (), "target.wbc"),
        (SCAN + TARGET.replace("wbc = 5", "wbc = true"), (), "target.wbc"),
        (SCAN + TARGET.replace("max_area_mm2 = 1.0", "max_area_mm2 = -2"), (), "max_area_mm2"),
        (SCAN + TARGET.replace("enabled = true", "enabled = false"), (), "[analysis] enabled"),
        (SCAN + TARGET + "stop_after_wbc = 7\n", (), "disagree"),
        (SCAN + TARGET + "[target.x]\n", (), "target.x"),
        (SCAN + TARGET.replace("wbc = 5", "wbc = 5\nstart_mm = [500, 1]"), (), "start_mm"),
        (SCAN, ("--start", "40", "30"), "--target-wbc"),
        (SCAN, ("--target-wbc", "5", "--no-analysis"), "[analysis] enabled"),
        (SCAN, ("--target-wbc", "0"), "--target-wbc"),
        (SCAN, ("--target-wbc", "5", "--start", "1", "1"), "target.start_mm"),
        (SCAN, ("--target-wbc", "5", "--max-area", "0"), "max_area_mm2"),
    ],
)
def test_bad_target_input_is_one_line_naming_the_field(tmp_path, body, extra, expect):
    code, out = _run(tmp_path, body, *extra)
    assert code == 2, out
    assert expect.lower() in out.lower(), out
    assert not (tmp_path / "o" / "tiles.jsonl").exists()


@pytest.mark.slow  # loads the shipped models: ~20 s
def test_target_scan_from_the_command_line_grows_until_the_area_is_used(tmp_path):
    """50 WBCs cannot be found in 0.06 mm2: the area ends the scan, every tile it took in
    the manifest's plan, the first at the start point."""
    extra = ("--target-wbc", "50", "--start", "40", "30", "--max-area", "0.06")
    code, out = _run(tmp_path, SCAN, *extra)
    assert code == 0, out
    manifest = ScanFolder.open(tmp_path / "o").read_manifest()
    plan, summary = manifest["plan"], manifest["summary"]
    assert manifest["config"]["target"]["wbc"] == 50
    assert summary["status"] == "complete" and summary["tiles_done"] == plan["tiles"] > 9
    assert plan["positions"][0][3:] == [40.0, 30.0]
    assert (tmp_path / "o" / "analysis" / "differential.json").exists()


@pytest.mark.slow  # loads the shipped models twice: ~30 s
def test_resumed_target_scan_counts_the_tiles_taken_before(tmp_path):
    """Interrupted after 5 tiles, --resume analyses those first (its count goes on from
    them) and grows on until the area is used; every tile is analysed once."""
    from uvscope.acquisition.engine import ScanEngine
    from uvscope.config import load_rig, load_scan
    from uvscope.drivers.rig import build_rig

    (tmp_path / "rig.toml").write_text(SMALL_RIG)
    (tmp_path / "scan.toml").write_text(SCAN)
    scan = load_scan(tmp_path / "scan.toml").replace(
        target={"wbc": 50, "start_mm": [40.0, 30.0], "max_area_mm2": 0.06},
        analysis={"enabled": True},
    )
    rig = build_rig(load_rig(tmp_path / "rig.toml"))
    engine = ScanEngine(rig, scan, tmp_path / "o")
    taken: list[int] = []

    def on_tile(tile):
        taken.append(tile.index)
        if len(taken) == 5:
            engine.interrupt("test")

    engine.events.tile_acquired.connect(on_tile)
    assert engine.run().status == "interrupted"
    rig.close()
    r = CliRunner().invoke(main, ["scan", "--resume", str(tmp_path / "o"), "--quiet"])
    assert r.exit_code == 0, r.output
    queued = re.search(r"(\d+) tiles queued for the analysis", r.output)
    assert queued is not None and int(queued.group(1)) >= 5, r.output
    manifest = ScanFolder.open(tmp_path / "o").read_manifest()
    assert manifest["summary"]["status"] == "complete"
    import json

    doc = json.loads((tmp_path / "o" / "analysis" / "differential.json").read_text())
    assert doc["differential"]["tiles_analysed"] == manifest["plan"]["tiles"]
