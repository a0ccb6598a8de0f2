"""What a resume may trust: every check on a scan folder, made before anything in it changes.

A resumed scan continues somebody's half-finished work, so nothing is taken on faith:

- the rig must be the one the manifest recorded (a SHA-256 of its canonical JSON), unless the
  operator names a reason to accept a change, which is recorded with the new rig;
- the plan (tile count and every position) must be the manifest's: tiles of two grids cannot
  be merged;
- a background counts only once its manifest entry is written (the entry is written after
  its files) and its files, and the darks it uses, are whole float32 OME-TIFFs of the tile
  shape; otherwise the resume takes a new one;
- a finished tile counts only with a CRC-checked journal line, at its planned position, and
  whole files of the right shape and dtype whose own OME metadata names this tile, wavelength
  and position, normalisable with a whole background and dark (``uvscope.io.scancheck``, the
  rule every reader follows); the others are taken again, each logged with its file;
- the manifest's ``rig_sha256`` must be the hash of the rig it records (an edited or damaged
  manifest is refused), and the rig is the recorded one unless ``--rig`` names another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from uvscope.acquisition.plan import GridPlan
from uvscope.acquisition.tiles import TileSpec
from uvscope.config import RigConfig, parse_model
from uvscope.errors import ConfigError, ScanError, StorageError
from uvscope.io.plan_record import PlannedTile
from uvscope.io.scancheck import check_scan, frame_problem
from uvscope.io.scanfolder import ScanFolder, TileRecord


def rig_fingerprint(rig: RigConfig) -> str:
    """SHA-256 of the rig's canonical JSON: equal exactly when every setting is equal."""
    text = json.dumps(rig.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class ResumePoint:
    """What the checks found: what to keep, what to take again."""

    done: dict[int, TileRecord]
    damaged: dict[int, str]
    #: the newest whole background entry of the manifest (None: take a new one)
    background: dict[str, Any] | None
    #: why the recorded background cannot be used (None: it can, or there is none)
    background_problem: str | None = None
    #: darks are whole (a new background may reuse them)
    darks_whole: bool = False
    #: the recorded rig change (manifest "rig_changes" entry) when one was accepted
    rig_change: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def _manifest_rig(folder: ScanFolder) -> RigConfig:
    data = folder.manifest_section("rig")
    if not isinstance(data, dict):
        raise StorageError(f"{folder.manifest_path}: 'rig' is not a table; the manifest is damaged")
    try:
        return parse_model(RigConfig, data, f"{folder.manifest_path} rig")
    except ConfigError as err:
        raise StorageError(str(err)) from None


def check_rig(
    folder: ScanFolder, rig: RigConfig, accept_change: str | None
) -> dict[str, Any] | None:
    """The rig change to record, or None when the rig is the manifest's; raises otherwise."""
    saved = _manifest_rig(folder)
    old, new = rig_fingerprint(saved), rig_fingerprint(rig)
    stored = folder.read_manifest().get("rig_sha256")
    if stored != old:  # the manifest's rig and its hash disagree: one was changed after
        raise StorageError(
            f"{folder.manifest_path}: its rig_sha256 ({stored}) is not the hash of the rig "
            f"it records ({old}); the manifest was edited or damaged, so the rig the scan "
            "started on is unknown. Nothing was changed; restore manifest.json from a copy"
        )
    if old == new:
        return None
    diff = _differences(saved.model_dump(mode="json"), rig.model_dump(mode="json"))
    if not accept_change:
        raise ScanError(
            f"{folder.root} was scanned on a different rig ({'; '.join(diff[:4])}"
            f"{'; ...' if len(diff) > 4 else ''}); resume with the recorded rig (leave --rig "
            "out), or give --accept-rig-change REASON to record the change and go on"
        )
    return {
        "from_sha256": old,
        "to_sha256": new,
        "reason": accept_change,
        "differences": diff,
        "rig": rig.model_dump(mode="json"),
    }


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{where}.{key}" if where else key)
        return out
    return [] if a == b else [f"{where}: {a!r} -> {b!r}"]


def check_plan(folder: ScanFolder, plan: GridPlan) -> None:
    """The saved plan (``ScanFolder.plan()``) must be this one, tile for tile."""
    saved = folder.plan()
    if not saved.recorded:
        raise StorageError(
            f"{folder.manifest_path} has no 'plan' section; it is damaged "
            "or was not written by a complete uvscope scan start"
        )
    if saved.tiles != len(plan.tiles):
        raise ScanError(
            f"{folder.root}: the saved scan has {saved.tiles} tiles but this configuration "
            f"plans {len(plan.tiles)}; resume with the scan's own configuration and rig"
        )
    try:
        positions = saved.positions
    except StorageError as err:  # a resume refuses a plan it cannot match as ScanError
        raise ScanError(str(err)) from None
    if positions is None:
        return  # written before positions were recorded: the count is all we can check
    for got, want in zip(positions, plan.tiles, strict=False):
        if not _same_place(got, want):
            where = [got.index, got.row, got.col, got.x_mm, got.y_mm]
            mine = [want.index, want.row, want.col, want.x_mm, want.y_mm]
            raise ScanError(
                f"{folder.root}: tile {want.index} was planned at {where}, this configuration "
                f"puts it at {mine}; resume with the scan's own configuration and rig"
            )


def _same_place(got: PlannedTile, want: TileSpec) -> bool:
    return (
        (got.index, got.row, got.col) == (want.index, want.row, want.col)
        and abs(got.x_mm - want.x_mm) < 1e-9
        and abs(got.y_mm - want.y_mm) < 1e-9
    )


def dark_path(folder: ScanFolder, nm: int, dark_id: str) -> Any:
    """Darks of the first background are ``dark_<nm>``; retaken ones carry their id."""
    return folder.dark_path(nm, dark_id)


def darks_needed(entries: list[dict[str, Any]]) -> bool:
    first = entries[0] if entries else {}
    return bool(first.get("dark_frames", 0))


def background_problem(
    folder: ScanFolder,
    entry: dict[str, Any],
    nms: list[int],
    shape_px: tuple[int, int],
    need_dark: bool,
) -> tuple[str | None, bool]:
    """(why ``entry`` cannot be used or None, whether its darks are whole)."""
    bg_id = str(entry.get("id", "bg0"))
    dark_id = str(entry.get("dark_id", "bg0"))
    darks_ok = True
    if need_dark:
        for nm in nms:
            p = dark_path(folder, nm, dark_id)
            problem = frame_problem(p, shape_px, "dark", nm)
            if problem is not None:
                return f"{p.relative_to(folder.root)}: {problem}", False
    for nm in nms:
        p = folder.background_path(nm, bg_id)
        problem = frame_problem(p, shape_px, "background", nm)
        if problem is not None:
            return f"{p.relative_to(folder.root)}: {problem}", darks_ok
    return None, darks_ok


def check_resume(
    folder: ScanFolder,
    plan: GridPlan,
    rig: RigConfig,
    nms: list[int],
    shape_px: tuple[int, int],
    accept_rig_change: str | None,
) -> ResumePoint:
    """Every check a resume needs; raises ScanError/StorageError, writes nothing."""
    folder.manifest_section("config")
    rig_change = check_rig(folder, rig, accept_rig_change)
    check_plan(folder, plan)
    entries = folder.read_manifest().get("backgrounds") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise StorageError(
            f"{folder.manifest_path}: 'backgrounds' is damaged (not a list of entries)"
        )
    check = check_scan(folder, shape_px)  # the rule every reader follows (io.scancheck)
    point = ResumePoint(check.good, check.damaged, None, rig_change=rig_change)
    if check.journal.damaged_lines:
        point.notes.append(
            f"tiles.jsonl line(s) {', '.join(map(str, check.journal.damaged_lines))} damaged "
            "(not whole tile records): their tiles are taken again"
        )
    if check.missing:
        point.notes.append(
            f"the scan was {check.status} but tiles.jsonl has no line for tile(s) "
            f"{', '.join(map(str, check.missing))}: they are taken again"
        )
    if entries:
        problem, darks_ok = background_problem(
            folder, entries[-1], nms, shape_px, darks_needed(entries)
        )
        point.darks_whole = darks_ok
        if problem is None:
            point.background = entries[-1]
        else:
            point.background_problem = problem
    return point
