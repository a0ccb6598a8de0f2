"""ScanFolder invariants below the CLI: durability order, full disks, new-folder checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import uvscope.io.scanfolder as sf
from uvscope.errors import StorageError
from uvscope.io.ome import ImageMeta
from uvscope.io.scanfolder import ScanFolder, TileRecord, frame_record, parse_record

META = ImageMeta(0.5, 260, 50.0, 1.0, 2.0, 3.0, "t")


def _rec(i: int) -> TileRecord:
    return TileRecord(i, 0, i, 1.0, 2.0, 3.0, [260], {"260": 50.0}, "bg0", 0.0)


def test_tile_files_are_fsynced_before_their_journal_line(tmp_path: Path, monkeypatch) -> None:
    order: list[str] = []
    monkeypatch.setattr(sf, "fsync_file", lambda p: order.append(f"file {p.name}"))
    monkeypatch.setattr(sf, "fsync_dir", lambda p: order.append(f"dir {p.name}"))
    folder = ScanFolder.create(tmp_path / "s", {"plan": {}})
    order.clear()
    img = np.ones((12, 16), np.float32)
    folder.write_tile_images(0, 260, img.astype(np.uint16), img, META)
    folder.append_tile(_rec(0))
    # with the raw frame kept the normalised tile is derived on read, not stored
    assert order == ["file tile_00000_260.ome.tif", "dir raw"]
    folder.release()


def test_a_full_disk_says_so(tmp_path: Path, monkeypatch) -> None:
    import shutil
    from collections import namedtuple

    folder = ScanFolder.create(tmp_path / "s", {"plan": {}})

    def short_write(path, image, meta):  # what numpy reports on ENOSPC
        raise StorageError(f"could not write {path}: 1447680 requested and 337864 written")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sf, "write_ome_tiff", short_write)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 300_000, 300_000))
    with pytest.raises(StorageError, match="the disk is full .* --resume"):
        folder.write_image(folder.tile_path(0, 260), np.ones((600, 600), np.float32), META)
    folder.release()


def test_frames_round_trip_and_old_lines_still_read() -> None:
    line = frame_record({"index": 3, "x": 0.1, "nan": float("nan"), "path": Path("/a")})
    rec = parse_record(line)
    assert rec is not None and rec["index"] == 3 and rec["path"] == "/a"
    assert parse_record('{"index": 3}') == {"index": 3}  # written before framing
    assert parse_record(line[:-10]) is None
    assert parse_record(line.replace('"index":3', '"index":4')) is None
    assert parse_record("[1, 2]") is None


def test_create_holds_the_lock_until_release(tmp_path: Path) -> None:
    from uvscope.io.lock import read_holder

    folder = ScanFolder.create(tmp_path / "s", {"plan": {}})
    holder = read_holder(tmp_path / "s")
    assert holder is not None and holder.purpose == "scan"
    folder.release()
    assert read_holder(tmp_path / "s") is None


def test_an_empty_leftover_layout_counts_as_new(tmp_path: Path) -> None:
    root = tmp_path / "s"
    for sub in ("raw", "tiles"):
        (root / sub).mkdir(parents=True)  # a start killed before its manifest
    ScanFolder.create(root, {"plan": {}}).release()
    with pytest.raises(StorageError, match="already holds a scan"):
        ScanFolder.claim_new(root)


def test_an_analysis_sink_made_first_does_not_block_a_new_scan(tmp_path: Path) -> None:
    root = tmp_path / "s"
    for sub in ("analysis/labels", "analysis/.gray"):
        (root / sub).mkdir(parents=True)  # what AnalysisOutputs makes before the first tile
    ScanFolder.claim_new(root).release()
    (root / "analysis" / "cells.csv").write_text("index\n")  # but results are not overwritten
    with pytest.raises(StorageError, match="not empty"):
        ScanFolder.claim_new(root)


def test_a_takeover_killed_before_its_manifest_leaves_a_folder_a_new_scan_takes(
    tmp_path: Path,
) -> None:
    """A start killed before or while writing its manifest (a takeover keeps events.jsonl;
    the manifest is written to manifest.json.part first) must not leave a folder that no scan
    will take: the kill harness found a manifest.json.part doing that."""
    root = tmp_path / "s"
    (root / "raw").mkdir(parents=True)
    (root / "uvscope.log").write_text("start\n")
    (root / "events.jsonl").write_text('{"kind": "reuse"}\n')
    ScanFolder.claim_new(root).release()
    (root / "manifest.json.part").write_bytes(b"")  # killed while writing its manifest
    ScanFolder.claim_new(root).release()
    (root / "notes.txt").write_text("mine")  # anything else still keeps a folder occupied
    with pytest.raises(StorageError, match="not empty"):
        ScanFolder.claim_new(root)
