"""The scan folder once every check has passed: a new manifest, or a resume's repairs.

Nothing here runs before ``ScanEngine.check`` has locked the folder and checked it, so a
refused scan leaves the folder as it was.
"""

from __future__ import annotations

import time
from typing import Any

from uvscope.acquisition.plan import GridPlan
from uvscope.acquisition.resume import ResumePoint, rig_fingerprint
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.io.scanfolder import ScanFolder, TileRecord


def manifest_base(
    scan: ScanConfig, rig: Rig, plan: GridPlan, tile_shape_px: tuple[int, int]
) -> dict[str, Any]:
    """What a new scan's manifest records: config, rig (and its hash), the plan."""
    return {
        "config": scan.model_dump(mode="json"),
        "rig": rig.config.model_dump(mode="json"),
        "rig_sha256": rig_fingerprint(rig.config),
        "plan": {
            "tile_shape_px": list(tile_shape_px),
            "rows": plan.rows,
            "columns": plan.columns,
            "tiles": len(plan.tiles),
            "step_mm": plan.step_mm,
            "fov_mm": plan.fov_mm,
            "bounds_mm": plan.bounds_mm,
            "pixel_size_um": rig.pixel_size_um,
            "wavelengths": [w.nm for w in scan.wavelengths],
            "positions": [[t.index, t.row, t.col, t.x_mm, t.y_mm] for t in plan.tiles],
        },
        "journal": "tiles.jsonl",
    }


def reopen_folder(folder: ScanFolder, point: ResumePoint, n_tiles: int) -> dict[int, TileRecord]:
    """A checked resume: drop a torn journal line, remove ``.part`` leftovers, record an
    accepted rig change and the damaged tiles; the finished tiles to keep."""
    torn = folder.repair_logs()
    if torn:
        folder.log_event("torn-record", f"dropped a torn journal/event line ({torn} bytes)")
    leftovers = folder.remove_leftovers()
    if leftovers:
        folder.log_event("leftovers", f"removed {len(leftovers)} unfinished .part file(s)")
    if point.rig_change is not None:
        _record_rig_change(folder, point.rig_change, len(point.done))
    done, damaged = point.done, point.damaged
    for index, problem in sorted(damaged.items()):
        folder.log_event("damaged-tile", f"tile {index} taken again: {problem}", tile=index)
    for note in point.notes:
        folder.log_event("damaged-journal", note)
    folder.update_manifest(status="running")
    folder.log_event(
        "resume",
        f"resumed with {len(done)} of {n_tiles} tiles done"
        + (f"; {len(damaged)} damaged tile(s) to take again" if damaged else ""),
    )
    return done


def _record_rig_change(folder: ScanFolder, change: dict[str, Any], done_count: int) -> None:
    changes = list(folder.read_manifest().get("rig_changes") or [])
    changes.append(
        {**change, "at_tile_count": done_count, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    )
    folder.update_manifest(rig_changes=changes)
    folder.log_event(
        "rig-change",
        f"resumed on a changed rig: {change['reason']}",
        **{k: change[k] for k in ("from_sha256", "to_sha256")},
    )
