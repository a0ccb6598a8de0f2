"""Scan-folder invariants through the CLI, the way a careful user would try to break them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.cli import main
from uvscope.io.ome import ImageMeta, write_ome_tiff
from uvscope.io.scanfolder import ScanFolder

REPO = Path(__file__).resolve().parents[2]

RIG = SMALL_RIG

SCAN = small_scan(2, 3)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "rig.toml").write_text(RIG)
    (tmp_path / "scan.toml").write_text(SCAN)
    return tmp_path


def _scan(files: Path, out: Path, *extra: str):
    return CliRunner().invoke(
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
            "--no-analysis",
            *extra,
        ],
    )


def _resume(out: Path, *extra: str):
    return CliRunner().invoke(
        main, ["scan", "--resume", str(out), "--quiet", "--no-analysis", *extra]
    )


def _finished(files: Path) -> Path:
    out = files / "out"
    r = _scan(files, out)
    assert r.exit_code == 0, r.output
    return out


def _fake_analysis(out: Path) -> dict[str, bytes]:
    """Results a user would lose: what the refused command must leave as it was."""
    (out / "analysis").mkdir(exist_ok=True)
    files = {"cells.csv": b"index,class\n0,neutrophil\n", "differential.json": b'{"a": 1}'}
    for name, data in files.items():
        (out / "analysis" / name).write_bytes(data)
    return files


def _assert_untouched(out: Path, saved: dict[str, bytes]) -> None:
    for name, data in saved.items():
        assert (out / "analysis" / name).read_bytes() == data, name


def _drop_last_tiles(out: Path, keep: int) -> None:
    folder = ScanFolder(out)
    lines = folder.journal_path.read_text().splitlines()
    folder.journal_path.write_text("\n".join(lines[:keep]) + "\n")
    folder.update_manifest(status="running")


# ------------------------------------------------------------------ nothing lost before checks
def test_scan_out_on_a_finished_scan_changes_nothing(files: Path) -> None:
    out = _finished(files)
    saved = _fake_analysis(out)
    manifest = (out / "manifest.json").read_bytes()
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
            "--analysis",
        ],
    )
    assert r.exit_code == 2
    assert "already holds a scan" in r.output and "--resume" in r.output
    assert "Traceback" not in r.output
    _assert_untouched(out, saved)
    assert (out / "manifest.json").read_bytes() == manifest


def test_a_failing_resume_changes_nothing(files: Path) -> None:
    out = _finished(files)
    _drop_last_tiles(out, 3)
    saved = _fake_analysis(out)
    journal = (out / "tiles.jsonl").read_bytes()
    (files / "other.toml").write_text(RIG.replace("0.5", "0.4"))
    r = CliRunner().invoke(
        main,
        ["scan", "--resume", str(out), "--rig", str(files / "other.toml"), "--quiet", "--analysis"],
    )
    assert r.exit_code == 2, r.output
    assert "different rig" in r.output and "camera.pixel_size_um: 0.5 -> 0.4" in r.output
    _assert_untouched(out, saved)
    assert (out / "tiles.jsonl").read_bytes() == journal


def test_a_folder_with_other_files_is_not_a_scan_target(files: Path) -> None:
    out = files / "mine"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"years of work")
    r = _scan(files, out)
    assert r.exit_code == 2 and "not empty" in r.output and "thesis.docx" in r.output
    assert sorted(p.name for p in out.iterdir()) == [".uvscope.lock", "thesis.docx"]


# ------------------------------------------------------------------ the rig
def test_resume_on_another_rig_is_refused_then_recorded_with_a_reason(files: Path) -> None:
    out = _finished(files)
    _drop_last_tiles(out, 4)
    (files / "renamed.toml").write_text(RIG.replace("small simulated rig", "bench 2"))
    r = _resume(out, "--rig", str(files / "renamed.toml"))
    assert r.exit_code == 2 and "name: 'small simulated rig' -> 'bench 2'" in r.output
    r = _resume(
        out,
        "--rig",
        str(files / "renamed.toml"),
        "--accept-rig-change",
        "same optics, controller renamed",
    )
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    (change,) = m["rig_changes"]
    assert change["reason"] == "same optics, controller renamed"
    assert change["at_tile_count"] == 4 and change["rig"]["name"] == "bench 2"
    assert any(e["kind"] == "rig-change" for e in ScanFolder(out).read_events())


def test_a_changed_grid_is_refused_even_with_a_reason(files: Path) -> None:
    out = _finished(files)
    _drop_last_tiles(out, 4)
    (files / "other.toml").write_text(RIG.replace("width_px = 160", "width_px = 200"))
    r = _resume(out, "--rig", str(files / "other.toml"), "--accept-rig-change", "why not")
    assert r.exit_code == 2
    assert "planned at" in r.output or "plans" in r.output


# ------------------------------------------------------------------ backgrounds and darks
def test_resume_without_a_recorded_dark_takes_new_darks(files: Path) -> None:
    """The kill between background and dark: the resume must not normalise without a dark."""
    out = _finished(files)
    ref = ScanFolder(out).read_tile(5, 260)[0]
    _drop_last_tiles(out, 3)
    (out / "background" / "dark_260.ome.tif").unlink()
    r = _resume(out)
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    assert [b["id"] for b in m["backgrounds"]] == ["bg0", "bg1"]
    assert m["backgrounds"][1]["dark_id"] == "bg1"
    assert (out / "background" / "dark_260_bg1.ome.tif").exists()
    events = ScanFolder(out).read_events()
    assert any(e["kind"] == "damaged-background" and "dark_260" in e["message"] for e in events)
    again = ScanFolder(out).read_tile(5, 260)[0]
    # with the dark subtracted the tile matches the uninterrupted one (noise aside)
    assert abs(float(again.mean()) / float(ref.mean()) - 1) < 0.005
    records = ScanFolder(out).tile_records()
    assert {records[i].background_id for i in (3, 4, 5)} == {"bg1"}


def test_a_background_without_its_manifest_entry_is_not_trusted(files: Path) -> None:
    out = _finished(files)
    folder = ScanFolder(out)
    folder.update_manifest(backgrounds=[])  # killed after the files, before the entry
    folder.journal_path.write_text("")
    r = _resume(out)
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    assert [b["id"] for b in m["backgrounds"]] == ["bg0"]
    assert m["status"] == "complete" and len(folder.verified_tiles()) == 6


def test_a_truncated_background_is_replaced_not_a_dead_end(files: Path) -> None:
    out = _finished(files)
    _drop_last_tiles(out, 2)
    bg = out / "background" / "bg_260.ome.tif"
    bg.write_bytes(bg.read_bytes()[:5000])
    r = _resume(out)
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["backgrounds"][-1]["dark_id"] == "bg0"


# ------------------------------------------------------------------ tiles and the journal
def test_a_torn_journal_line_drops_only_itself(files: Path) -> None:
    out = _finished(files)
    folder = ScanFolder(out)
    lines = folder.journal_path.read_bytes().splitlines(keepends=True)
    # as if killed mid-write of tile 4's record: its line is half there, no newline
    folder.journal_path.write_bytes(b"".join(lines[:4]) + lines[4][:37])
    folder.update_manifest(status="running")
    r = _resume(out)
    assert r.exit_code == 0, r.output
    records = [json.loads(x) for x in folder.journal_path.read_text().splitlines()]
    assert sorted(rec["index"] for rec in records) == list(range(6))
    assert ScanFolder(out).read_manifest()["summary"]["tiles_done"] == 6


def test_a_glued_record_after_a_torn_tail_is_not_lost(tmp_path: Path) -> None:
    from uvscope.io.scanfolder import TileRecord

    folder = ScanFolder(tmp_path)
    rec = TileRecord(0, 0, 0, 1.0, 2.0, 3.0, [260], {"260": 5.0}, "bg0", 0.0)
    folder.append_tile(rec)
    with open(folder.journal_path, "ab") as fh:
        fh.write(b'{"index": 1, "row"')  # torn
    folder.append_tile(TileRecord(2, 0, 2, 1.0, 2.0, 3.0, [260], {"260": 5.0}, "bg0", 0.0))
    assert sorted(folder.tile_records()) == [0, 2]


def test_a_damaged_line_fails_its_crc(tmp_path: Path) -> None:
    from uvscope.io.scanfolder import TileRecord

    folder = ScanFolder(tmp_path)
    for i in range(3):
        folder.append_tile(TileRecord(i, 0, i, 1.0, 2.0, 3.0, [260], {"260": 5.0}, "bg0", 0.0))
    text = folder.journal_path.read_text().replace('"x_mm":1.0', '"x_mm":7.0', 1)
    folder.journal_path.write_text(text)
    assert sorted(folder.tile_records()) == [1, 2]


@pytest.mark.parametrize(
    "damage", ["wrong-shape", "not-ome", "int-dtype", "truncated", "missing", "raw-wrong-shape"]
)
def test_a_bad_finished_tile_is_taken_again(files: Path, damage: str) -> None:
    if damage != "raw-wrong-shape":  # raw frames off: the normalised tile is then stored
        (files / "scan.toml").write_text("save_raw = false\n" + SCAN)
    out = _finished(files)
    folder = ScanFolder(out)
    path = folder.tile_path(2, 260)
    meta = ImageMeta(0.5, 260, 50.0, 0.0, 0.0, 0.0, "x")
    if damage == "wrong-shape":
        write_ome_tiff(path, np.ones((60, 80), np.float32), meta)
    elif damage == "not-ome":
        tifffile.imwrite(path, np.ones((120, 160), np.float32), ome=False)
    elif damage == "int-dtype":
        write_ome_tiff(path, np.ones((120, 160), np.uint16), meta)
    elif damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "missing":
        path.unlink()
    else:
        write_ome_tiff(folder.raw_path(2, 260), np.ones((12, 16), np.uint16), meta)
    assert 2 in folder.verify_tiles()[1]
    folder.update_manifest(status="running")
    r = _resume(out)
    assert r.exit_code == 0, r.output
    good, bad = ScanFolder(out).verify_tiles()
    assert sorted(good) == list(range(6)) and not bad
    assert ScanFolder(out).read_tile(2, 260)[0].shape == (120, 160)


def test_part_leftovers_are_removed_on_resume(files: Path) -> None:
    out = _finished(files)
    _drop_last_tiles(out, 5)
    for rel in (
        "tiles/tile_00005_260.ome.tif.part",
        "raw/tile_00005_260.ome.tif.part",
        "manifest.json.part",
    ):
        (out / rel).write_bytes(b"\0" * 1000)
    r = _resume(out)
    assert r.exit_code == 0, r.output
    assert not list(out.rglob("*.part"))


# ------------------------------------------------------------------ one writer
HOLD = """
import sys
from uvscope.io.lock import lock_folder
lock = lock_folder(sys.argv[1], "scan", create=True)
print("locked", flush=True)
sys.stdin.readline()
"""


def _holder(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_is_refused_naming_the_first(files: Path) -> None:
    out = _finished(files)
    _drop_last_tiles(out, 3)
    journal = (out / "tiles.jsonl").read_bytes()
    proc = _holder(out)
    try:
        r = _resume(out)
        assert r.exit_code == 2
        assert f"pid {proc.pid}" in r.output and "being written" in r.output
        assert (out / "tiles.jsonl").read_bytes() == journal
        r = _scan(files, files / "fresh")  # an unrelated folder is free
        assert r.exit_code == 0, r.output
    finally:
        proc.kill()
        proc.wait()
    assert _resume(out).exit_code == 0


def test_a_new_scan_into_a_folder_being_created_is_refused(files: Path) -> None:
    out = files / "new"
    proc = _holder(out)
    try:
        r = _scan(files, out)
        assert r.exit_code == 2 and f"pid {proc.pid}" in r.output
        assert not (out / "manifest.json").exists()
    finally:
        proc.kill()
        proc.wait()


def test_the_scan_releases_its_lock_when_done(files: Path) -> None:
    from uvscope.io.lock import read_holder

    out = _finished(files)
    assert read_holder(out) is None


def test_two_simultaneous_scans_into_one_folder_exactly_one_wins(files: Path) -> None:
    out = files / "race"
    cmd = [
        sys.executable,
        "-m",
        "uvscope",
        "scan",
        "--config",
        str(files / "scan.toml"),
        "--rig",
        str(files / "rig.toml"),
        "--out",
        str(out),
        "--quiet",
        "--no-analysis",
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=120), p.stdout.read()) for p in procs]  # type: ignore[union-attr]
    assert sorted(code for code, _ in results) == [0, 2], results
    loser = next(text for code, text in results if code == 2)
    assert "being written by" in loser or "already holds a scan" in loser
    assert "Traceback" not in loser
    assert len((out / "tiles.jsonl").read_text().splitlines()) == 6
