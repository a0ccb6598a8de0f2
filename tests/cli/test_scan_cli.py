from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.cli import main
from uvscope.io.scanfolder import ScanFolder

SMALL_SCAN = small_scan(2, 2)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "rig.toml").write_text(SMALL_RIG)
    (tmp_path / "scan.toml").write_text(SMALL_SCAN)
    return tmp_path


def test_help_lists_commands_and_options():
    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0 and "scan" in r.output and "batch" in r.output
    r = CliRunner().invoke(main, ["scan", "--help"])
    assert r.exit_code == 0
    for opt in ("--config", "--rig", "--out", "--resume"):
        assert opt in r.output


def test_scan_writes_a_complete_folder(files: Path):
    out = files / "out"
    r = CliRunner().invoke(
        main,
        [
            "scan",
            "--config",
            str(files / "scan.toml"),
            "--rig",
            str(files / "rig.toml"),
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert r.exit_code == 0, r.output
    folder = ScanFolder.open(out)
    assert folder.read_manifest()["status"] == "complete"
    assert len(folder.verified_tiles()) == 4


def test_bad_config_names_the_field_and_fails(files: Path):
    (files / "bad.toml").write_text(SMALL_SCAN.replace("exposure_ms = 50.0", "exposure_ms = -1"))
    r = CliRunner().invoke(
        main,
        [
            "scan",
            "--config",
            str(files / "bad.toml"),
            "--rig",
            str(files / "rig.toml"),
            "--out",
            str(files / "o"),
        ],
    )
    assert r.exit_code == 2
    assert "wavelengths.0.exposure_ms" in r.output
    assert not (files / "o").exists()


def test_region_outside_the_stage_is_refused(files: Path):
    (files / "far.toml").write_text(SMALL_SCAN.replace("[42.5, 32.5]", "[200.0, 32.5]"))
    r = CliRunner().invoke(
        main,
        [
            "scan",
            "--config",
            str(files / "far.toml"),
            "--rig",
            str(files / "rig.toml"),
            "--out",
            str(files / "o"),
            "--quiet",
        ],
    )
    assert r.exit_code == 2 and "stage.x_limits_mm" in r.output


def test_batch_goes_on_after_a_failure_and_exits_nonzero(files: Path):
    (files / "bad.toml").write_text("[region]\ncenter_mm = [1, 1]\n")
    (files / "batch.toml").write_text(
        'rig = "rig.toml"\n'
        '[[scans]]\nconfig = "bad.toml"\nout = "b1"\n'
        '[[scans]]\nconfig = "scan.toml"\nout = "b2"\n'
    )
    r = CliRunner().invoke(main, ["batch", str(files / "batch.toml"), "--quiet"])
    assert r.exit_code == 1
    assert "1 ok, 1 failed" in r.output
    assert ScanFolder.open(files / "b2").read_manifest()["status"] == "complete"


def test_resume_finishes_an_interrupted_scan(files: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("UVSCOPE_RIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(files / "no-config"))
    out = files / "out"
    r = CliRunner().invoke(
        main,
        [
            "scan",
            "--config",
            str(files / "scan.toml"),
            "--rig",
            str(files / "rig.toml"),
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert r.exit_code == 0
    folder = ScanFolder(out)
    lines = folder.journal_path.read_text().splitlines()
    folder.journal_path.write_text("\n".join(lines[:2]) + "\n")  # as if killed after 2 tiles
    folder.update_manifest(status="running")
    r = CliRunner().invoke(main, ["scan", "--resume", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    # nothing configured: the folder's own (small) rig is driven, and said so, not "built-in"
    assert "rig: the one recorded in the scan folder's manifest" in r.output
    assert "built-in" not in r.output
    assert len(ScanFolder.open(out).tile_records()) == 4
    assert len(folder.journal_path.read_text().splitlines()) == 4


def test_the_progress_display_shows_the_preparation(files: Path):
    """Darks, background and focus points have a "preparing" bar, not a silent wait."""
    out = files / "out"
    args = ["scan", "--config", str(files / "scan.toml"), "--rig", str(files / "rig.toml")]
    r = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "preparing: Autofocus: 1 of 1 points done" in r.output  # the last step, finished
