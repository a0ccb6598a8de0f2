"""The one rule every reader of a scan folder follows (``uvscope.io.scancheck``), on a folder
written the way a scan writes it: raw frames, background and dark, each with its OME
metadata, a CRC-framed journal and a plan."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from uvscope.io.ome import ImageMeta
from uvscope.io.scancheck import check_scan
from uvscope.io.scanfolder import ScanFolder, TileRecord

SHAPE = (24, 32)
STEP_MM = 0.1


def _scan(root: Path, n: int = 4, status: str = "complete") -> ScanFolder:
    positions = [[i, 0, i, 10.0 + STEP_MM * i, 20.0] for i in range(n)]
    manifest = {
        "plan": {"tiles": n, "tile_shape_px": list(SHAPE), "positions": positions},
        "backgrounds": [{"id": "bg0", "dark_id": "bg0", "frames": 2, "dark_frames": 2}],
    }
    folder = ScanFolder.create(root, manifest)
    bg = np.full(SHAPE, 1000.0, np.float32)
    folder.write_image(
        folder.dark_path(260), bg / 10, ImageMeta(0.5, None, 50.0, name="dark for 260 nm")
    )
    folder.write_image(
        folder.background_path(260),
        bg,
        ImageMeta(0.5, 260, 50.0, 0.0, 0.0, 0.0, "background bg0 260 nm"),
    )
    rng = np.random.default_rng(0)
    for i, _r, _c, x, y in positions:
        raw = rng.integers(100, 900, SHAPE).astype(np.uint16)
        meta = ImageMeta(0.5, 260, 50.0, x, y, 5.0, f"tile {i} 260 nm")
        folder.write_tile_images(i, 260, raw, raw.astype(np.float32), meta)
        folder.append_tile(TileRecord(i, 0, i, x, y, 5.0, [260], {"260": 50.0}, "bg0", 0.0))
    folder.update_manifest(status=status)
    folder.release()
    return folder


def test_an_undamaged_scan_passes(tmp_path: Path) -> None:
    check = check_scan(_scan(tmp_path / "s"))
    assert sorted(check.good) == [0, 1, 2, 3] and not check.problems and check.planned == 4


def test_another_tiles_file_is_named_by_its_own_metadata(tmp_path: Path) -> None:
    folder = _scan(tmp_path / "s")
    shutil.copy(folder.raw_path(1, 260), folder.raw_path(0, 260))
    check = check_scan(folder)
    assert sorted(check.good) == [1, 2, 3]
    assert (
        "raw/tile_00000_260.ome.tif" in check.damaged[0] and "'tile 1 260 nm'" in check.damaged[0]
    )


def test_a_file_renamed_and_retitled_is_caught_by_its_stage_position(tmp_path: Path) -> None:
    """Even a file whose name tag was edited still says where the stage was."""
    from uvscope.io.ome import read_ome_tiff, write_ome_tiff

    folder = _scan(tmp_path / "s")
    image, meta = read_ome_tiff(folder.raw_path(1, 260))
    write_ome_tiff(folder.raw_path(0, 260), image, replace(meta, name="tile 0 260 nm"))
    assert "puts it at (10.1" in check_scan(folder).damaged[0]


@pytest.mark.parametrize(
    ("damage", "expect"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:300]), "truncated"),
        (lambda p: p.unlink(), "missing"),
        (lambda p: p.write_bytes(b"\x00" * 4000), "not a readable TIFF"),
    ],
)
def test_a_damaged_dark_fails_every_tile_it_normalises(tmp_path: Path, damage, expect) -> None:
    folder = _scan(tmp_path / "s")
    damage(folder.dark_path(260))
    check = check_scan(folder)
    assert not check.good and all(
        "background/dark_260.ome.tif" in w for w in check.damaged.values()
    )
    assert expect in check.damaged[0]
    assert len(check.problems) == 1  # one cause, said once for all its tiles


def test_background_and_dark_swapped_are_named(tmp_path: Path) -> None:
    folder = _scan(tmp_path / "s")
    bg, dark = folder.background_path(260), folder.dark_path(260)
    data = bg.read_bytes()
    bg.write_bytes(dark.read_bytes())
    dark.write_bytes(data)
    assert "not a background" in check_scan(folder).damaged[0]


def test_a_wrong_pixel_type_or_shape_is_named(tmp_path: Path) -> None:
    folder = _scan(tmp_path / "s")
    meta = ImageMeta(0.5, 260, 50.0, 10.0, 20.0, 5.0, "tile 0 260 nm")
    folder.write_image(folder.raw_path(0, 260), np.zeros(SHAPE, np.float32), meta)
    folder.write_image(folder.raw_path(1, 260), np.zeros((8, 8), np.uint16), meta)
    check = check_scan(folder)
    assert "pixel type float32" in check.damaged[0] and "shape (8, 8)" in check.damaged[1]


def test_damaged_journal_lines_and_missing_tiles_are_named(tmp_path: Path) -> None:
    folder = _scan(tmp_path / "s")
    lines = folder.journal_path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"row":0', '"row":7')  # the CRC no longer matches
    folder.journal_path.write_text("".join(lines[:3]))  # tile 3's line lost too
    check = check_scan(folder)
    assert sorted(check.good) == [0, 2] and check.journal.damaged_lines == [2]
    text = " ".join(check.problems)
    assert "tiles.jsonl: line(s) 2 damaged" in text and "tile(s) 1, 3 have no journal line" in text


def test_an_interrupted_scan_is_not_damaged_for_its_missing_tiles(tmp_path: Path) -> None:
    folder = _scan(tmp_path / "s", status="interrupted")
    with open(folder.journal_path, "ab") as fh:
        fh.write(b'{"index": 4, "ro')  # torn by a kill
    check = check_scan(folder)
    assert not check.problems and check.journal.torn_tail


def test_a_journal_position_off_the_plan_is_named(tmp_path: Path) -> None:
    folder = _scan(tmp_path / "s")
    m = folder.read_manifest()
    m["plan"]["positions"][2][3] += 1.0  # the plan moved a millimetre: another scan's plan
    folder.write_manifest(m)
    assert "planned at (11.2" in check_scan(folder).damaged[2]
