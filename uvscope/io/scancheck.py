"""One rule for every reader of a scan folder: each file is checked for what it claims to be.

``uvscope analyze`` (one scan or many on Dask), ``report``, ``scan --resume`` (CLI and GUI),
classifier training from reviewed scans: before any of them uses a tile, ``check_scan`` (or
``tile_problem`` for one tile) makes sure that

- every journal line is whole (CRC) and holds a tile record of the right types; a complete
  scan's journal holds every planned tile;
- every file of a journaled tile is there, whole, of the scan's tile shape and pixel type
  (uint16 raw frames, float32 normalised tiles), and its own OME metadata names this tile,
  this wavelength and the stage position the journal recorded (a copy of another tile's
  file says another tile and another place); the journal's position is the plan's;
- the background and dark a raw tile is normalised with are there and whole, float32 of the
  tile shape, and say in their metadata that they are a background (a dark) of that
  wavelength.

Only TIFF headers and OME metadata are read (well under a millisecond a file). A check names
the file and what is wrong; what a reader does with it (refuse, skip and say so, take the
tile again) is the reader's choice.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from uvscope.errors import StorageError
from uvscope.io.journal import TileRecord, parse_record
from uvscope.io.ome import ImageMeta, parse_ome_meta, tiff_damage
from uvscope.io.plan_record import PlanRecord

#: a file's own stage position may differ from its journal line by rounding only (the OME
#: metadata keeps 1 nm)
POSITION_TOLERANCE_MM = 0.0005
#: the names a scan gives its frames in their OME metadata ("tile 3 260 nm", "background bg0
#: 260 nm", "dark for 260 nm"); other names (another writer's) claim nothing
_FRAME_NAME = re.compile(r"^(tile \d+ \d+ nm|background \S+ \d+ nm|dark for \d+ nm)$")


class ScanFiles(Protocol):
    """What the check reads of a scan folder (``uvscope.io.scanfolder.ScanFolder`` is one;
    it calls this check from ``verify_tiles``)."""

    @property
    def root(self) -> Path: ...
    @property
    def manifest_path(self) -> Path: ...
    @property
    def journal_path(self) -> Path: ...
    def read_manifest(self) -> dict[str, Any]: ...
    def tile_shape_px(self) -> tuple[int, int] | None: ...
    def tile_path(self, index: int, nm: int) -> Path: ...
    def raw_path(self, index: int, nm: int) -> Path: ...
    def background_path(self, nm: int, bg_id: str = "bg0") -> Path: ...
    def dark_path(self, nm: int, dark_id: str = "bg0") -> Path: ...


class DamagedScan(StorageError):
    """A scan folder holds damaged or mismatched files; the message names them."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def image_header(
    path: Path, shape_px: tuple[int, int] | None, dtype: type[np.generic]
) -> tuple[str | None, ImageMeta | None]:
    """(why ``path`` is not a whole uvscope OME-TIFF of that shape and dtype, its metadata)."""
    import tifffile

    problem = tiff_damage(path)
    if problem is not None:
        return problem, None
    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            got_shape, got_dtype, xml = tuple(page.shape), page.dtype, tf.ome_metadata
    except Exception as err:  # noqa: BLE001 - tifffile raises many kinds for damaged files
        return f"not a readable TIFF ({err})", None
    if not xml:
        return "no OME metadata (not written by uvscope)", None
    if got_dtype != np.dtype(dtype):
        return f"pixel type {got_dtype}, expected {np.dtype(dtype)}", None
    if shape_px is not None and got_shape[:2] != tuple(shape_px):
        return f"shape {got_shape}, expected {tuple(shape_px)}", None
    try:
        return None, parse_ome_meta(xml)
    except (StorageError, ValueError, SyntaxError) as err:
        return f"damaged OME metadata ({err})", None


def _near(a: float | None, b: float, tol: float) -> bool:
    return a is not None and math.isfinite(a) and abs(a - b) <= tol


def tile_meta_problem(meta: ImageMeta, rec: TileRecord, nm: int) -> str | None:
    """Why a tile file's own metadata says it is not tile ``rec.index`` at ``nm``."""
    want_name = f"tile {rec.index} {nm} nm"
    if _FRAME_NAME.match(meta.name or "") and meta.name != want_name:
        return f"its metadata says {meta.name!r}, not {want_name!r} (another tile's file?)"
    if meta.wavelength_nm is not None and meta.wavelength_nm != nm:
        return f"its metadata says {meta.wavelength_nm} nm, the journal {nm} nm"
    tol = POSITION_TOLERANCE_MM
    if meta.x_mm is None and meta.y_mm is None:
        return None  # not written by a scan (no position to compare)
    if not (_near(meta.x_mm, rec.x_mm, tol) and _near(meta.y_mm, rec.y_mm, tol)):
        return (
            f"its metadata puts it at ({meta.x_mm}, {meta.y_mm}) mm, the journal at "
            f"({rec.x_mm}, {rec.y_mm}) mm (another tile's file?)"
        )
    return None


@dataclass
class BackgroundCheck:
    """The background entries of the manifest and what is wrong with each one's files."""

    entries: dict[str, dict[str, Any]]
    darks_needed: bool
    problems: dict[tuple[str, int], str] = field(default_factory=dict)

    def problem(self, folder: ScanFiles, bg_id: str, nm: int, shape: Any) -> str | None:
        """Why tile frames taken with background ``bg_id`` cannot be normalised (cached)."""
        key = (bg_id, nm)
        if key not in self.problems:
            self.problems[key] = _background_problem(self, folder, bg_id, nm, shape) or ""
        return self.problems[key] or None


def _background_problem(
    check: BackgroundCheck, folder: ScanFiles, bg_id: str, nm: int, shape: Any
) -> str | None:
    entry = check.entries.get(bg_id)
    if entry is None:
        return f"background {bg_id!r} is not recorded in manifest.json"
    path = folder.background_path(nm, bg_id)
    problem = frame_problem(path, shape, "background", nm)
    if problem is not None:
        return f"{path.relative_to(folder.root)}: {problem}"
    dark = folder.dark_path(nm, str(entry.get("dark_id", "bg0")))
    if not check.darks_needed and not dark.exists():
        return None
    problem = frame_problem(dark, shape, "dark", nm)
    return f"{dark.relative_to(folder.root)}: {problem}" if problem else None


def frame_problem(path: Path, shape: Any, kind: str, nm: int) -> str | None:
    """Why a background (``kind`` "background") or dark ("dark") of ``nm`` at ``path`` is not
    a whole float32 frame of the tile shape that says so in its metadata."""
    problem, meta = image_header(path, shape, np.float32)
    if problem is None and meta is not None:
        problem = _frame_kind_problem(meta, kind, nm if kind == "background" else None)
    return problem


def _frame_kind_problem(meta: ImageMeta, kind: str, nm: int | None) -> str | None:
    if _FRAME_NAME.match(meta.name or "") and not (meta.name or "").startswith(kind):
        return f"its metadata says {meta.name!r}, not a {kind} (swapped files?)"
    if nm is not None and meta.wavelength_nm is not None and meta.wavelength_nm != nm:
        return f"its metadata says {meta.wavelength_nm} nm, not {nm} nm"
    return None


def background_check(folder: ScanFiles) -> BackgroundCheck:
    """The manifest's background entries, ready to check tile by tile."""
    entries = folder.read_manifest().get("backgrounds") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise StorageError(
            f"{folder.manifest_path}: 'backgrounds' is damaged (not a list of entries)"
        )
    first = entries[0] if entries else {}
    return BackgroundCheck(
        {str(e.get("id", "bg0")): e for e in entries}, bool(first.get("dark_frames", 0))
    )


def tile_problem(
    folder: ScanFiles,
    rec: TileRecord,
    shape_px: tuple[int, int] | None,
    backgrounds: BackgroundCheck | None = None,
) -> str | None:
    """Why journaled tile ``rec`` cannot be used (file and what is wrong), or None.

    The normalised file where it is stored (or where there is no raw frame), the raw frame
    where there is one, and, for a tile derived from its raw frame, its background and dark.
    """
    for nm in rec.wavelengths:
        norm, raw = folder.tile_path(rec.index, nm), folder.raw_path(rec.index, nm)
        has_norm, has_raw = norm.exists(), raw.exists()
        files: list[tuple[Path, type[np.generic]]] = []
        files += [(norm, np.float32)] if has_norm or not has_raw else []
        files += [(raw, np.uint16)] if has_raw else []
        for path, dtype in files:
            problem, meta = image_header(path, shape_px, dtype)
            if problem is None and meta is not None:
                problem = tile_meta_problem(meta, rec, nm)
            if problem is not None:
                return f"{path.relative_to(folder.root)}: {problem}"
        if has_raw and not has_norm and backgrounds is not None:
            bg = backgrounds.problem(folder, rec.background_id, nm, shape_px)
            if bg is not None:
                return f"cannot be normalised: {bg}"
    return None


@dataclass
class JournalCheck:
    """The journal read line by line: whole tile records and the damaged lines."""

    records: dict[int, TileRecord]
    damaged_lines: list[int]
    #: the last line was cut short by a kill (its tile was not finished; resume retakes it)
    torn_tail: bool = False


def _tile_record(obj: dict[str, Any]) -> TileRecord | None:
    try:
        rec = TileRecord(**obj)
    except TypeError:
        return None
    numbers = (rec.x_mm, rec.y_mm, rec.z_um)
    ok = (
        isinstance(rec.index, int)
        and isinstance(rec.row, int)
        and isinstance(rec.col, int)
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers)
        and isinstance(rec.wavelengths, list)
        and all(isinstance(nm, int) for nm in rec.wavelengths)
        and isinstance(rec.background_id, str)
        and isinstance(rec.exposure_ms, dict)
    )
    return rec if ok else None


def check_journal(folder: ScanFiles) -> JournalCheck:
    """Every line of ``tiles.jsonl``: whole records by tile, damaged line numbers (1-based)."""
    path = folder.journal_path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return JournalCheck({}, [])
    except OSError as err:
        raise StorageError(f"cannot read {path}: {err.strerror or err}") from None
    lines = data.split(b"\n")
    tail = lines.pop() if lines else b""  # text after the last newline: a torn write
    out = JournalCheck({}, [], torn_tail=bool(tail.strip()))
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        obj = parse_record(raw.decode("utf-8", "replace"))
        rec = _tile_record(obj) if obj is not None else None
        if rec is None:
            out.damaged_lines.append(n)
        else:
            out.records[rec.index] = rec
    return out


@dataclass
class ScanCheck:
    """What a reader may use in a scan folder, and everything it may not, by name."""

    root: Path
    planned: int
    status: str
    journal: JournalCheck
    good: dict[int, TileRecord]
    #: journaled tiles that cannot be used: index -> "file: what is wrong"
    damaged: dict[int, str]
    #: planned tiles a complete scan's journal lacks
    missing: list[int]
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Every damage found, one line each, naming the file."""
        by_cause: dict[str, list[int]] = {}
        for i, why in sorted(self.damaged.items()):
            by_cause.setdefault(why, []).append(i)
        out = [
            f"{'tile' if len(tiles) == 1 else 'tiles'} {_ranges(tiles)}: {why}"
            for why, tiles in by_cause.items()
        ]
        if self.journal.damaged_lines:
            lines = ", ".join(map(str, self.journal.damaged_lines[:8]))
            more = ", ..." if len(self.journal.damaged_lines) > 8 else ""
            out.append(f"tiles.jsonl: line(s) {lines}{more} damaged (not a whole tile record)")
        if self.missing:
            out.append(
                f"tiles.jsonl: the scan is {self.status} but tile(s) "
                f"{_ranges(self.missing)} have no journal line"
            )
        return out

    @property
    def skipped(self) -> dict[str, str]:
        """What an analysis of the good tiles leaves out: tile (or file) -> why."""
        out = {str(i): why for i, why in sorted(self.damaged.items())}
        for i in self.missing:
            out[str(i)] = "no journal line in tiles.jsonl"
        if self.journal.damaged_lines:
            out["tiles.jsonl"] = next(p for p in self.problems if p.startswith("tiles.jsonl"))
        return out

    def refusal(self, what: str) -> DamagedScan:
        """The error a reader raises instead of using a damaged folder."""
        probs = self.problems
        head = "; ".join(probs[:5]) + ("; ..." if len(probs) > 5 else "")
        return DamagedScan(
            f"{self.root}: {len(probs)} damaged or mismatched input(s): {head}. {what}", probs
        )


def _ranges(values: list[int]) -> str:
    shown = ", ".join(map(str, values[:10]))
    return shown + (f", ... ({len(values)} in all)" if len(values) > 10 else "")


def check_plan_position(rec: TileRecord, planned: dict[int, tuple[float, float]]) -> str | None:
    """Why the journal's tile is not the plan's (index outside it, or far from its place)."""
    if rec.index not in planned:
        return f"tiles.jsonl: tile {rec.index} is not in the scan's plan"
    x, y = planned[rec.index]
    # a real stage settles within microns; a neighbour is a tile step (>= 50 um) away
    if not (_near(rec.x_mm, x, 0.02) and _near(rec.y_mm, y, 0.02)):
        return (
            f"tiles.jsonl: tile {rec.index} was taken at ({rec.x_mm}, {rec.y_mm}) mm, "
            f"planned at ({x}, {y}) mm"
        )
    return None


def check_scan(folder: ScanFiles, shape_px: tuple[int, int] | None = None) -> ScanCheck:
    """Every journaled tile and the files it needs, checked (headers and metadata only)."""
    manifest = folder.read_manifest()
    plan = PlanRecord.from_manifest(manifest, str(folder.manifest_path))
    planned = plan.centres_mm() if plan.positions is not None else None
    shape_px = shape_px if shape_px is not None else folder.tile_shape_px()
    journal = check_journal(folder)
    backgrounds = background_check(folder)
    good: dict[int, TileRecord] = {}
    damaged: dict[int, str] = {}
    for i, rec in sorted(journal.records.items()):
        problem = check_plan_position(rec, planned) if planned is not None else None
        problem = problem or tile_problem(folder, rec, shape_px, backgrounds)
        if problem is None:
            good[i] = rec
        else:
            damaged[i] = problem
    status = str(manifest.get("status", ""))
    missing = (
        sorted(set(planned) - set(journal.records))
        if planned is not None and status == "complete"
        else []
    )
    n_planned = len(planned) if planned is not None else plan.tiles
    return ScanCheck(folder.root, n_planned, status, journal, good, damaged, missing)
