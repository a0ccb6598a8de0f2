"""Refusals come before anything is written, and a folder in which nothing was acquired is
never a dead end: ``scan --out`` takes it over, ``--resume`` says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.cli import main
from uvscope.io.scanfolder import ScanFolder

SCAN = small_scan(1, 2)


def _scan(tmp_path: Path, body: str, out: Path) -> object:
    (tmp_path / "scan.toml").write_text(body)
    (tmp_path / "rig.toml").write_text(SMALL_RIG)
    return CliRunner().invoke(
        main,
        [
            "scan",
            "--config",
            str(tmp_path / "scan.toml"),
            "--rig",
            str(tmp_path / "rig.toml"),
            "--out",
            str(out),
            "--quiet",
            "--no-analysis",
        ],
    )


def _clean(r, expect: str, code: int = 2) -> None:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "unexpected" not in r.output, r.output
    assert expect in " ".join(r.output.split()), r.output


DEVICE_LIMITS = [
    ("exposure-huge", SCAN.replace("exposure_ms = 50.0", "exposure_ms = 1e12"), "exposure_ms"),
    ("exposure-tiny", SCAN.replace("exposure_ms = 50.0", "exposure_ms = 1e-300"), "exposure_ms"),
    ("focus-fixed-far", SCAN + '[focus]\nmode = "fixed"\nz_um = 1e9\n', "focus.z_um"),
    ("focus-wavelength", SCAN + "[focus]\nwavelength_nm = 300\n", "focus.wavelength_nm = 300"),
    ("background-off-stage", SCAN + "position_mm = [500, 500]\n", "background.position_mm"),
    (
        "offset-past-limit",
        SCAN.replace("exposure_ms = 50.0", "exposure_ms = 50.0\nfocus_offset_um = 20")
        + "[[wavelengths]]\nnm = 280\n[focus]\nwavelength_nm = 280\nz_um = 9990\n",
        "at 260 nm",
    ),
]


@pytest.mark.parametrize(
    ("body", "expect"), [c[1:] for c in DEVICE_LIMITS], ids=[c[0] for c in DEVICE_LIMITS]
)
def test_device_limits_are_refused_before_the_folder_exists(
    tmp_path: Path, body: str, expect: str
) -> None:
    out = tmp_path / "out"
    r = _scan(tmp_path, body, out)
    _clean(r, expect)
    assert not out.exists()
    assert "--resume" not in r.output


def test_a_wavelength_without_a_filter_is_refused_before_the_folder_exists(
    tmp_path: Path,
) -> None:
    (tmp_path / "rig.toml").write_text(SMALL_RIG + '[filter_wheel]\nslots = { "260" = 1 }\n')
    (tmp_path / "scan.toml").write_text(SCAN.replace("nm = 260", "nm = 280"))
    out = tmp_path / "out"
    cmd = ["scan", "--config", str(tmp_path / "scan.toml"), "--rig", str(tmp_path / "rig.toml")]
    r = CliRunner().invoke(main, [*cmd, "--out", str(out), "--quiet", "--no-analysis"])
    _clean(r, "wavelengths.0.nm = 280")
    assert not out.exists()


def _failed_start(tmp_path: Path) -> Path:
    """A folder whose scan failed before its first tile (a full disk at the first raw
    frame): manifest, darks and background written, no tile."""
    from uvscope.acquisition.engine import ScanEngine
    from uvscope.config import load_rig, load_scan
    from uvscope.drivers.rig import build_rig
    from uvscope.errors import ScanError

    (tmp_path / "rig.toml").write_text(SMALL_RIG)
    (tmp_path / "scan.toml").write_text(SCAN)
    rig = build_rig(load_rig(tmp_path / "rig.toml"))
    out = tmp_path / "out"
    engine = ScanEngine(rig, load_scan(tmp_path / "scan.toml"), out)

    def full_disk(path: Path) -> None:
        if path.parent.name == "raw":
            raise OSError(28, "No space left on device")

    engine.storage_hook = full_disk
    with pytest.raises(ScanError, match="no tile was acquired") as err:
        engine.run()
    assert f"uvscope scan --out {out}" in str(err.value)
    rig.close()
    assert (out / "manifest.json").exists() and (out / "background" / "bg_260.ome.tif").exists()
    assert not (out / "tiles.jsonl").exists()
    return out


def test_scan_out_takes_over_a_folder_in_which_nothing_was_acquired(tmp_path: Path) -> None:
    out = _failed_start(tmp_path)
    r = _scan(tmp_path, SCAN, out)
    _clean(r, "complete: 2/2", code=0)
    folder = ScanFolder.open(out)
    assert folder.read_manifest()["status"] == "complete"
    assert sorted(folder.verified_tiles()) == [0, 1]
    kinds = [e["kind"] for e in folder.read_events()]
    assert "reuse" in kinds and kinds.index("reuse") > kinds.index("failed")  # history kept


def test_a_user_file_keeps_the_folder_refused_and_untouched(tmp_path: Path) -> None:
    out = _failed_start(tmp_path)
    (out / "notes.txt").write_text("mine")
    manifest = (out / "manifest.json").read_bytes()
    r = _scan(tmp_path, SCAN, out)
    _clean(r, "already holds a scan")
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "manifest.json").read_bytes() == manifest
    assert (out / "background" / "bg_260.ome.tif").exists()


def test_a_tile_on_disk_keeps_the_folder_for_resume(tmp_path: Path) -> None:
    out = _failed_start(tmp_path)
    (out / "raw" / "tile_00000_260.ome.tif").write_bytes(b"II*\0")  # a tile being written
    r = _scan(tmp_path, SCAN, out)
    _clean(r, "already holds a scan")
    assert (out / "raw" / "tile_00000_260.ome.tif").exists()


def test_resume_of_a_start_killed_before_its_manifest_says_to_reuse_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "analysis").mkdir(parents=True)  # what a kill while the models load leaves
    (out / ".uvscope.lock").write_text(json.dumps({"pid": 1}))
    (out / "uvscope.log").write_text("loading analysis models\n")
    r = CliRunner().invoke(main, ["scan", "--resume", str(out), "--quiet"])
    _clean(r, "nothing was acquired there")
    assert f"uvscope scan --out {out}" in " ".join(r.output.split())
    r = _scan(tmp_path, SCAN, out)
    _clean(r, "complete: 2/2", code=0)
    assert "loading analysis models" in (out / "uvscope.log").read_text()  # the log appends


def test_resume_of_a_plain_folder_is_still_not_a_scan_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "data.csv").write_text("1\n")
    (tmp_path / "x" / ".uvscope.lock").write_text("")
    r = CliRunner().invoke(main, ["scan", "--resume", str(tmp_path / "x"), "--quiet"])
    _clean(r, "not a scan folder")


@pytest.mark.parametrize("target", ["missing/x", "self"], ids=["dangling", "loop"])
def test_a_symlink_out_to_nothing_is_named_as_such(tmp_path: Path, target: str) -> None:
    out = tmp_path / "out"
    out.symlink_to(out if target == "self" else tmp_path / target)
    r = _scan(tmp_path, SCAN, out)
    _clean(r, "is a symbolic link to")
    assert "File exists" not in r.output
    assert out.is_symlink() and not (tmp_path / "missing").exists()
