"""``ScanFolder.plan()`` reads back the grid the scan start wrote, and names what is wrong."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from uvscope.acquisition.folder_setup import manifest_base
from uvscope.acquisition.plan import fov_mm, plan_tiles
from uvscope.config import RigConfig, ScanConfig
from uvscope.errors import StorageError
from uvscope.io.plan_record import PlannedTile, PlanRecord
from uvscope.io.scanfolder import ScanFolder


@pytest.fixture
def scan_start(tmp_path):
    """A folder whose manifest the scan start's own code wrote, and the plan it wrote."""
    rig_cfg = RigConfig()
    cam = rig_cfg.camera
    scan = ScanConfig(region={"center_mm": (40.0, 30.0), "rows": 3, "columns": 4})
    grid = plan_tiles(scan, fov_mm(cam.width_px, cam.height_px, cam.pixel_size_um), rig_cfg.stage)
    rig = SimpleNamespace(config=rig_cfg, pixel_size_um=cam.pixel_size_um)
    manifest = manifest_base(scan, rig, grid, (cam.height_px, cam.width_px))  # type: ignore[arg-type]
    return ScanFolder.create(tmp_path / "scan", manifest), grid, scan, cam


def test_the_plan_reads_back_what_the_scan_start_wrote(scan_start) -> None:
    folder, grid, scan, cam = scan_start
    plan = folder.plan()
    assert plan.tiles == len(grid.tiles) == 12
    assert plan.planned_tiles() == tuple(
        PlannedTile(t.index, t.row, t.col, t.x_mm, t.y_mm) for t in grid.tiles
    )
    assert plan.centres_mm()[5] == (grid.tiles[5].x_mm, grid.tiles[5].y_mm)
    assert plan.pixel_size_um == cam.pixel_size_um
    assert plan.wavelengths == tuple(w.nm for w in scan.wavelengths)
    assert plan.tile_shape_px == (cam.height_px, cam.width_px)
    assert plan.fov_mm == pytest.approx(grid.fov_mm)
    assert plan.bounds_mm == pytest.approx(grid.bounds_mm)
    assert "positions" not in plan.without_positions()
    assert plan.without_positions()["rows"] == 3


def _rewrite_plan(folder: ScanFolder, **changes) -> None:
    manifest = folder.read_manifest()
    manifest["plan"].update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del manifest["plan"][key]
    folder.manifest_path.write_text(json.dumps(manifest))


def test_a_plan_without_positions_reads_but_is_refused_where_they_are_needed(scan_start) -> None:
    folder, *_ = scan_start
    _rewrite_plan(folder, positions=None)
    plan = folder.plan()
    assert plan.positions is None and plan.tiles == 12  # an old folder still reads
    with pytest.raises(StorageError, match=r"manifest\.json: .*no usable plan \(no 'positions'\)"):
        plan.centres_mm()


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("positions", [[0, 0, 0, "left", 1.0]], "positions is damaged"),
        ("positions", [[0, 0, 1.0]], "positions is damaged"),
        ("pixel_size_um", "fine", "pixel_size_um is damaged"),
        ("pixel_size_um", None, r"no 'pixel_size_um'"),
        ("wavelengths", ["uv"], "wavelengths is damaged"),
        ("bounds_mm", [1, 2], "bounds_mm is damaged"),
    ],
)
def test_a_damaged_field_is_named_with_its_manifest(scan_start, field, value, match) -> None:
    folder, *_ = scan_start
    _rewrite_plan(folder, **{field: value})
    with pytest.raises(StorageError, match=match) as err:
        getattr(folder.plan(), field)
    assert str(folder.manifest_path) in str(err.value)


def test_a_manifest_without_a_plan_plans_nothing() -> None:
    plan = PlanRecord.from_manifest({"status": "running"})
    assert not plan.recorded and plan.tiles == 0 and plan.positions is None
    assert plan.wavelengths == () and plan.tile_shape_px is None
    assert PlanRecord.from_manifest({"plan": {"tile_shape_px": "big"}}).tile_shape_px is None
    with pytest.raises(StorageError, match="no 'bounds_mm'"):
        plan.covered_mm()
