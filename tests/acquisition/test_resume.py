"""A resume refuses a folder whose saved plan is not this configuration's, tile for tile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from uvscope.acquisition.plan import GridPlan
from uvscope.acquisition.resume import check_plan
from uvscope.acquisition.tiles import TileSpec
from uvscope.errors import ScanError, StorageError
from uvscope.io.scanfolder import ScanFolder


def _grid(n: int = 3, dx_mm: float = 0.2) -> GridPlan:
    tiles = tuple(TileSpec(i, 0, i, 10.0 + i * dx_mm, 5.0) for i in range(n))
    return GridPlan(tiles, 1, n, (dx_mm, 0.0), (0.22, 0.17), (9.9, 4.9, 10.6, 5.1))


def _folder(tmp_path: Path, plan: Any) -> ScanFolder:
    folder = ScanFolder(tmp_path)
    manifest: dict[str, Any] = {"format": "uvscope-scan", "format_version": 1}
    if plan is not None:
        manifest["plan"] = plan
    folder.write_manifest(manifest)
    return folder


def _saved(plan: GridPlan) -> dict[str, Any]:
    rows = [[t.index, t.row, t.col, t.x_mm, t.y_mm] for t in plan.tiles]
    return {"tiles": len(plan.tiles), "positions": rows, "pixel_size_um": 0.16}


def test_the_scans_own_plan_resumes(tmp_path: Path) -> None:
    check_plan(_folder(tmp_path, _saved(_grid())), _grid())


def test_a_plan_written_before_positions_checks_the_count_only(tmp_path: Path) -> None:
    check_plan(_folder(tmp_path, {"tiles": 3}), _grid(dx_mm=0.3))
    with pytest.raises(ScanError, match="has 3 tiles but this configuration plans 4"):
        check_plan(_folder(tmp_path, {"tiles": 3}), _grid(4))


def test_another_tile_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="has 3 tiles but this configuration plans 4; resume"):
        check_plan(_folder(tmp_path, _saved(_grid())), _grid(4))


def test_a_moved_tile_is_refused_by_its_index(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match=r"tile 1 was planned at \[1, 0, 1, 10\.2, 5\.0\]"):
        check_plan(_folder(tmp_path, _saved(_grid())), _grid(dx_mm=0.25))


def test_a_damaged_position_is_refused(tmp_path: Path) -> None:
    saved = _saved(_grid())
    saved["positions"][2] = [2, 0, 2, "ten", 5.0]
    with pytest.raises(ScanError, match="positions is damaged"):
        check_plan(_folder(tmp_path, saved), _grid())


def test_a_manifest_without_a_plan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="has no 'plan' section"):
        check_plan(_folder(tmp_path, None), _grid())
