"""What `scan --resume` re-checks before trusting a folder (issue 24): the manifest's rig hash
against the rig it records, and that a rig named by the environment or the user config never
silently replaces the recorded one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.cli import main
from uvscope.io.scanfolder import ScanFolder


@pytest.fixture
def interrupted(tmp_path: Path) -> Path:
    """A finished 2 x 2 scan on the small rig with its last two tiles' lines dropped."""
    (tmp_path / "rig.toml").write_text(SMALL_RIG)
    (tmp_path / "scan.toml").write_text(small_scan(2, 2))
    out = tmp_path / "out"
    args = ["--config", str(tmp_path / "scan.toml"), "--rig", str(tmp_path / "rig.toml")]
    r = CliRunner().invoke(main, ["scan", *args, "--out", str(out), "--quiet", "--no-analysis"])
    assert r.exit_code == 0, r.output
    folder = ScanFolder(out)
    lines = folder.journal_path.read_text().splitlines()
    folder.journal_path.write_text("\n".join(lines[:2]) + "\n")
    folder.update_manifest(status="interrupted")
    return out


def _resume(out: Path, *extra: str):
    r = CliRunner().invoke(main, ["scan", "--resume", str(out), "--quiet", *extra])
    assert "Traceback" not in r.output
    return r


def test_a_manifest_whose_rig_hash_is_not_its_rigs_is_refused(interrupted: Path) -> None:
    ScanFolder(interrupted).update_manifest(rig_sha256="0" * 64)
    journal = (interrupted / "tiles.jsonl").read_bytes()
    r = _resume(interrupted)
    assert r.exit_code == 2 and "rig_sha256" in r.output and "0" * 64 in r.output
    assert (interrupted / "tiles.jsonl").read_bytes() == journal  # nothing taken


def test_the_environments_rig_never_replaces_the_recorded_one(
    interrupted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(SMALL_RIG.replace("0.5", "0.4"))
    monkeypatch.setenv("UVSCOPE_RIG", str(other))
    r = _resume(interrupted)
    assert r.exit_code == 0, r.output
    assert "rig: the one recorded in the scan folder's manifest" in r.output
    manifest = json.loads((interrupted / "manifest.json").read_text())
    assert manifest["status"] == "complete" and "rig_changes" not in manifest
    assert len(ScanFolder(interrupted).verified_tiles()) == 4


def test_a_different_rig_given_with_rig_is_refused_naming_rig(
    interrupted: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(SMALL_RIG.replace("0.5", "0.4"))
    r = _resume(interrupted, "--rig", str(other))
    assert r.exit_code == 2 and "different rig" in r.output and "--rig" in r.output


def test_a_tile_holding_another_tiles_frame_is_taken_again(interrupted: Path) -> None:
    """The issue's attack: tile 1's frame copied over tile 0's before the resume."""
    folder = ScanFolder(interrupted)
    folder.raw_path(0, 260).write_bytes(folder.raw_path(1, 260).read_bytes())
    r = _resume(interrupted)
    assert r.exit_code == 0, r.output
    from uvscope.io.ome import read_ome_tiff

    assert read_ome_tiff(folder.raw_path(0, 260))[1].name == "tile 0 260 nm"
    events = [e for e in folder.read_events() if e["kind"] == "damaged-tile"]
    assert events and "'tile 1 260 nm'" in events[0]["message"]
