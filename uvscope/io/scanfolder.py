"""The scan folder: layout, manifest, per-tile journal, and reopening for resume.

Layout::

    DIR/manifest.json          config, rig, software version, plan, backgrounds, status
    DIR/tiles.jsonl            one line per finished tile (append-only, fsynced)
    DIR/background/bg_<nm>.ome.tif, dark_<nm>.ome.tif
    DIR/raw/tile_<index>_<nm>.ome.tif         camera frames (uint16, deflate + predictor)
    DIR/tiles/tile_<index>_<nm>.ome.tif       normalised (float32), only when raw is off:
                                              with raw, ``read_tile`` derives it bit for bit
    DIR/mosaic/mosaic_<nm>.ome.tif            placed by stage coordinates
    DIR/events.jsonl           faults, pauses, retries: what happened during the scan

A tile counts as done only once its files are renamed into place *and* its journal line is
on disk, so a scan killed at any moment loses at most the tile in flight.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uvscope import __version__
from uvscope.errors import StorageError
from uvscope.imaging import normalise_denominator, normalise_with
from uvscope.io.ome import ImageMeta, read_ome_tiff, tiff_damage, write_ome_tiff

FORMAT = "uvscope-scan"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TileRecord:
    """The journal line of one finished tile."""

    index: int
    row: int
    col: int
    x_mm: float
    y_mm: float
    z_um: float
    wavelengths: list[int]
    exposure_ms: dict[str, float]
    background_id: str
    acquired_at_s: float
    status: str = "done"
    extra: dict[str, Any] | None = None


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"could not write {path}: {err.strerror or err}") from err


class ScanFolder:
    """One scan's folder on disk."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        #: called with each path before it is written; an OSError from it (a full disk in
        #: the fault tests) is reported like a real write error
        self.before_write: Callable[[Path], None] | None = None
        self._denominators: dict[tuple[int, str], tuple[np.ndarray, np.ndarray | None]] = {}
        self._background_of: dict[int, str] = {}  # tile -> background id, for read_tile

    def _check_write(self, path: Path) -> None:
        if self.before_write is not None:
            try:
                self.before_write(path)
            except OSError as err:
                raise StorageError(f"could not write {path}: {err.strerror or err}") from err

    # ---------------------------------------------------------------- paths
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def journal_path(self) -> Path:
        return self.root / "tiles.jsonl"

    @property
    def events_path(self) -> Path:
        return self.root / "events.jsonl"

    def tile_path(self, index: int, nm: int) -> Path:
        return self.root / "tiles" / f"tile_{index:05d}_{nm}.ome.tif"

    def raw_path(self, index: int, nm: int) -> Path:
        return self.root / "raw" / f"tile_{index:05d}_{nm}.ome.tif"

    def background_path(self, nm: int, bg_id: str = "bg0") -> Path:
        suffix = "" if bg_id == "bg0" else f"_{bg_id}"
        return self.root / "background" / f"bg_{nm}{suffix}.ome.tif"

    def dark_path(self, nm: int) -> Path:
        return self.root / "background" / f"dark_{nm}.ome.tif"

    def mosaic_path(self, nm: int) -> Path:
        return self.root / "mosaic" / f"mosaic_{nm}.ome.tif"

    # ---------------------------------------------------------------- create / open
    @classmethod
    def create(cls, root: str | Path, manifest: dict[str, Any]) -> ScanFolder:
        folder = cls(root)
        if folder.manifest_path.exists():
            raise StorageError(
                f"{folder.root} already holds a scan; use --resume to finish it or choose "
                "another output folder"
            )
        try:
            for sub in ("background", "raw", "tiles", "mosaic"):
                (folder.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create {folder.root}: {err.strerror or err}") from err
        full = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "software": {"name": "uvscope", "version": __version__},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "status": "running",
            **manifest,
        }
        folder.write_manifest(full)
        return folder

    @classmethod
    def open(cls, root: str | Path) -> ScanFolder:
        folder = cls(root)
        folder.read_manifest()  # validates
        return folder

    # ---------------------------------------------------------------- manifest
    def read_manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StorageError(f"{self.root} is not a scan folder (no manifest.json)") from None
        except json.JSONDecodeError as err:
            raise StorageError(f"{self.manifest_path} is damaged: {err}") from None
        if data.get("format") != FORMAT:
            raise StorageError(f"{self.manifest_path} is not a uvscope scan manifest")
        if data.get("format_version") != FORMAT_VERSION:
            raise StorageError(
                f"{self.manifest_path} has format version {data.get('format_version')}; this "
                f"uvscope ({__version__}) reads version {FORMAT_VERSION}. Open it with the "
                "uvscope version that wrote it."
            )
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        with self._lock:
            _atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, default=str))

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        m = self.read_manifest()
        m.update(changes)
        self.write_manifest(m)
        return m

    # ---------------------------------------------------------------- journal
    def _append_line(self, path: Path, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, default=str) + "\n"
        self._check_write(path)
        with self._lock:
            try:
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as err:
                raise StorageError(f"could not write {path}: {err.strerror or err}") from err

    def append_tile(self, record: TileRecord) -> None:
        self._append_line(self.journal_path, asdict(record))

    def log_event(self, kind: str, message: str, **extra: Any) -> None:
        self._append_line(self.events_path, {"time": time.time(), "kind": kind,
                                             "message": message, **extra})

    def read_events(self) -> list[dict[str, Any]]:
        return _read_jsonl(self.events_path)

    def tile_records(self) -> dict[int, TileRecord]:
        """Finished tiles by index (a torn last line from a kill is ignored)."""
        out: dict[int, TileRecord] = {}
        for obj in _read_jsonl(self.journal_path):
            try:
                rec = TileRecord(**obj)
            except TypeError:
                continue
            out[rec.index] = rec
        return out

    def verified_tiles(self) -> dict[int, TileRecord]:
        """Finished tiles whose files are whole (resume redoes the others)."""
        return self.verify_tiles()[0]

    def verify_tiles(self) -> tuple[dict[int, TileRecord], dict[int, str]]:
        """(finished tiles whose files are whole, {index: what is wrong} for the others).

        Every normalised file must be there and whole; a raw file, where there is one, must
        be whole too. The check reads TIFF headers only (~0.1 ms a file).
        """
        good: dict[int, TileRecord] = {}
        bad: dict[int, str] = {}
        for i, rec in self.tile_records().items():
            problem = None
            for nm in rec.wavelengths:
                path = self.tile_path(i, nm)
                raw = self.raw_path(i, nm)  # with raw, the normalised tile is derived on read
                problem = tiff_damage(path) if path.exists() or not raw.exists() else None
                if problem is None and raw.exists():
                    path, problem = raw, tiff_damage(raw)
                if problem is not None:
                    bad[i] = f"{path.relative_to(self.root)}: {problem}"
                    break
            if problem is None:
                good[i] = rec
        return good, bad

    # ---------------------------------------------------------------- images
    def write_tile_images(self, index: int, nm: int, raw: np.ndarray | None,
                          normalised: np.ndarray, meta: ImageMeta) -> None:
        """The raw frame when there is one (the normalised tile is then derived on read, not
        stored twice), else the normalised tile."""
        if raw is not None:
            self._check_write(self.raw_path(index, nm))
            write_ome_tiff(self.raw_path(index, nm), raw, meta)
            return
        self._check_write(self.tile_path(index, nm))
        write_ome_tiff(self.tile_path(index, nm), normalised.astype(np.float32), meta)

    def read_tile(self, index: int, nm: int) -> tuple[np.ndarray, ImageMeta]:
        """The normalised tile (float32): stored, or (raw - dark) / (background - dark) from
        the stored frames, bit for bit what the scan computed."""
        path = self.tile_path(index, nm)
        raw_path = self.raw_path(index, nm)
        if path.exists() or not raw_path.exists():
            return read_ome_tiff(path)
        raw, meta = read_ome_tiff(raw_path)
        if index not in self._background_of:
            self._background_of = {i: r.background_id for i, r in self.tile_records().items()}
        denom, dark = self._denominator(nm, self._background_of.get(index, "bg0"))
        return normalise_with(raw, denom, dark), meta

    def _denominator(self, nm: int, bg_id: str) -> tuple[np.ndarray, np.ndarray | None]:
        key = (nm, bg_id)
        if key not in self._denominators:
            bg = read_ome_tiff(self.background_path(nm, bg_id))[0].astype(np.float32)
            dp = self.dark_path(nm)
            dark = read_ome_tiff(dp)[0].astype(np.float32) if dp.exists() else None
            self._denominators[key] = (normalise_denominator(bg, dark), dark)
        return self._denominators[key]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # torn write at a kill: the tile is redone
    return out
