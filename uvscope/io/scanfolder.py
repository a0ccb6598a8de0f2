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

A tile counts as done only once its files are renamed into place and fsynced *and* its
journal line is on disk, so a scan killed at any moment loses at most the tile in flight.

Invariants (each tested in tests/io/test_scanfolder.py):

- One writer: every writer holds the folder's OS lock (``uvscope.io.lock``); ``create``
  takes it *before* looking for a manifest, so of two simultaneous creators one wins.
- Nothing existing is overwritten: ``create`` refuses a folder that holds a scan or any
  other files.
- Journal and event lines carry a CRC32 of their content (``"crc32"``, the last key, still
  plain JSON Lines); a line torn by a kill or a full disk fails it and is dropped, and an
  append never glues onto a torn tail (it starts a new line first).
- Files and their directories are fsynced before the journal line or manifest rename that
  marks them done; ``.part`` leftovers of a killed writer are removed on resume.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from uvscope import __version__
from uvscope.errors import StorageError
from uvscope.imaging import normalise_denominator, normalise_with
from uvscope.io.journal import TileRecord as TileRecord
from uvscope.io.journal import frame_record as frame_record
from uvscope.io.journal import parse_record as parse_record
from uvscope.io.lock import LOCK_FILE_NAME, FolderLock
from uvscope.io.ome import ImageMeta, read_ome_tiff, tiff_damage, write_ome_tiff
from uvscope.io.plan_record import PlanRecord
from uvscope.io.scancheck import check_scan
from uvscope.localtime import iso_now

FORMAT = "uvscope-scan"
FORMAT_VERSION = 1
#: the sub-folders of a scan folder (a folder holding only these, empty, is still new)
LAYOUT = ("background", "raw", "tiles", "mosaic")


def storage_error(path: Path, err: OSError) -> StorageError:
    """A write error in words a user can act on (a full disk says so)."""
    import errno

    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(
            f"could not write {path}: the disk is full; free space, then "
            "finish with `uvscope scan --resume`"
        )
    return StorageError(f"could not write {path}: {err.strerror or err}")


def _disk_full_text(path: Path, need_bytes: int) -> str | None:
    """The words for a write that failed because the disk is full (numpy and tifffile report
    it as "N requested and M written", without an errno)."""
    import shutil

    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return None
    if free > 2 * need_bytes + 2**20:
        return None
    return (
        f"could not write {path}: the disk is full ({free / 2**20:.1f} MB free, the image "
        f"needs {need_bytes / 2**20:.1f} MB); free space, then finish with "
        "`uvscope scan --resume`"
    )


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (a power cut keeps it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise storage_error(path, err) from err


class ScanFolder:
    """One scan's folder on disk."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        #: the folder's writer lock while this object writes it (see ``claim``)
        self.writer_lock: FolderLock | None = None
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

    def dark_path(self, nm: int, dark_id: str = "bg0") -> Path:
        """Darks of the first background are ``dark_<nm>``; retaken ones carry their id."""
        suffix = "" if dark_id == "bg0" else f"_{dark_id}"
        return self.root / "background" / f"dark_{nm}{suffix}.ome.tif"

    def mosaic_path(self, nm: int) -> Path:
        return self.root / "mosaic" / f"mosaic_{nm}.ome.tif"

    # ---------------------------------------------------------------- create / open
    @classmethod
    def claim_new(cls, root: str | Path) -> ScanFolder:
        """Lock ``root`` (made if missing) for a new scan and check it is free; writes nothing.

        Refuses a folder that holds a scan or any other files: nothing there is overwritten.
        """
        folder = cls(root)
        folder.writer_lock = FolderLock(folder.root, "scan", create=True).acquire()
        try:
            folder._check_new()
        except BaseException:
            folder.release()
            raise
        return folder

    def _check_new(self) -> None:
        if self.manifest_path.exists():
            raise StorageError(
                f"{self.root} already holds a scan; nothing was changed. Use "
                f"`uvscope scan --resume {self.root}` to finish it, or choose another "
                "output folder"
            )
        # what a killed start or this process's own analysis sink leaves: empty folders (and
        # the logs, which only ever append: a takeover of a folder where nothing was acquired
        # keeps events.jsonl, so a kill before its new manifest leaves it behind), and the
        # manifest's own unfinished write (a kill while it was being written)
        part = self.manifest_path.name + ".part"  # written as path + ".part", then renamed
        startup = (LOCK_FILE_NAME, "uvscope.log", self.events_path.name, part)
        others = [
            p.name
            for p in self.root.iterdir()
            if p.name not in startup
            and not (p.name in (*LAYOUT, "analysis", "analysis.partial") and _empty_tree(p))
        ]
        if others:
            raise StorageError(
                f"{self.root} is not empty ({', '.join(sorted(others)[:3])}"
                f"{', ...' if len(others) > 3 else ''}); a scan goes into a new or empty "
                "folder so nothing there is overwritten. Choose another --out"
            )

    @classmethod
    def claim(cls, root: str | Path, purpose: str = "resume") -> ScanFolder:
        """Lock an existing scan folder for writing (resume, analysis) and read its manifest."""
        folder = cls(root)
        if not folder.manifest_path.exists():
            folder.read_manifest()  # the specific error: not a scan folder
        folder.writer_lock = FolderLock(folder.root, purpose).acquire()
        try:
            folder.read_manifest()
        except BaseException:
            folder.release()
            raise
        return folder

    def release(self) -> None:
        """Give up the writer lock (if this object holds it)."""
        if self.writer_lock is not None:
            self.writer_lock.release()
            self.writer_lock = None

    @classmethod
    def create(
        cls, root: str | Path, manifest: dict[str, Any], claimed: ScanFolder | None = None
    ) -> ScanFolder:
        """A new scan folder with its manifest, locked for this process.

        ``claimed``: the result of an earlier ``claim_new`` (checks done, lock held).
        """
        # checked by the claim, under the lock since: only this process's own sinks (the
        # analysis folder) can have added anything
        folder = claimed if claimed is not None else cls.claim_new(root)
        try:
            for sub in LAYOUT:
                (folder.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create {folder.root}: {err.strerror or err}") from err
        full = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "software": {"name": "uvscope", "version": __version__},
            "created": iso_now(),  # ISO 8601 with the offset (+01:00), as every file
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
        except IsADirectoryError:
            raise StorageError(f"{self.manifest_path} is a folder, not a manifest") from None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
            raise StorageError(
                f"{self.manifest_path} is damaged (not JSON: {err}); the "
                "scan folder cannot be read as it is"
            ) from None
        except OSError as err:
            raise StorageError(f"cannot read {self.manifest_path}: {err.strerror or err}") from None
        if not isinstance(data, dict):
            raise StorageError(
                f"{self.manifest_path} is damaged: it holds "
                f"{type(data).__name__}, not a manifest object"
            )
        if data.get("format") != FORMAT:
            raise StorageError(f"{self.manifest_path} is not a uvscope scan manifest")
        if data.get("format_version") != FORMAT_VERSION:
            raise StorageError(
                f"{self.manifest_path} has format version {data.get('format_version')}; this "
                f"uvscope ({__version__}) reads version {FORMAT_VERSION}. Open it with the "
                "uvscope version that wrote it."
            )
        return data

    def manifest_section(self, key: str) -> Any:
        """``manifest[key]`` or a StorageError naming the missing key."""
        m = self.read_manifest()
        if m.get(key) is None:
            raise StorageError(
                f"{self.manifest_path} has no {key!r} section; it is damaged "
                "or was not written by a complete uvscope scan start"
            )
        return m[key]

    def plan(self) -> PlanRecord:
        """The grid the scan planned (its manifest's plan section, typed)."""
        return PlanRecord.from_manifest(self.read_manifest(), str(self.manifest_path))

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
        line = frame_record(obj).encode("utf-8")
        self._check_write(path)
        with self._lock:
            try:
                with open(path, "a+b") as fh:
                    end = fh.seek(0, os.SEEK_END)
                    if end and os.pread(fh.fileno(), 1, end - 1) != b"\n":
                        line = b"\n" + line  # a torn tail stays a line of its own
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as err:
                raise storage_error(path, err) from err

    def repair_logs(self) -> int:
        """Cut torn tails off the journal and the event log (resume, under the lock).

        Returns the number of bytes dropped; a torn record was never done, so its tile is
        taken again.
        """
        dropped = 0
        for path in (self.journal_path, self.events_path):
            if not path.exists():
                continue
            try:
                data = path.read_bytes()
            except OSError as err:
                raise StorageError(
                    f"cannot read {path}: {err.strerror or err}; the scan folder is damaged there"
                ) from None
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            if tail and parse_record(tail.decode("utf-8", "replace")) is None:
                try:
                    with open(path, "r+b") as fh:
                        fh.truncate(cut)
                        os.fsync(fh.fileno())
                except OSError as err:
                    raise storage_error(path, err) from err
                dropped += len(tail)
        return dropped

    def remove_leftovers(self) -> list[Path]:
        """Delete the ``.part`` files a killed writer left (never finished work)."""
        gone = []
        for sub in ("", *LAYOUT):
            d = self.root / sub
            if d.is_dir():
                for p in d.glob("*.part"):
                    p.unlink(missing_ok=True)
                    gone.append(p)
        return gone

    def append_tile(self, record: TileRecord) -> None:
        self._append_line(self.journal_path, asdict(record))

    def log_event(self, kind: str, message: str, **extra: Any) -> None:
        self._append_line(
            self.events_path, {"time": time.time(), "kind": kind, "message": message, **extra}
        )

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
            if not isinstance(rec.index, int) or not isinstance(rec.wavelengths, list):
                continue
            out[rec.index] = rec
        return out

    def verified_tiles(self) -> dict[int, TileRecord]:
        """Finished tiles whose files are whole (resume redoes the others)."""
        return self.verify_tiles()[0]

    def tile_shape_px(self) -> tuple[int, int] | None:
        """(height, width) of every tile, as the manifest recorded it (None: not recorded)."""
        try:
            return self.plan().tile_shape_px
        except StorageError:
            return None

    def verify_tiles(
        self, shape_px: tuple[int, int] | None = None
    ) -> tuple[dict[int, TileRecord], dict[int, str]]:
        """(finished tiles whose files are whole, {index: what is wrong} for the others).

        The one rule of ``uvscope.io.scancheck``: every file there, whole, of the scan's tile
        shape (``shape_px``, default the manifest's) and pixel type, its own OME metadata
        naming this tile, wavelength and journaled position; a raw tile's background and
        dark whole too. Reads TIFF headers only (~0.2 ms a file).
        """
        check = check_scan(self, shape_px)
        return check.good, check.damaged

    # ---------------------------------------------------------------- images
    def write_tile_images(
        self, index: int, nm: int, raw: np.ndarray | None, normalised: np.ndarray, meta: ImageMeta
    ) -> None:
        """The raw frame when there is one (the normalised tile is then derived on read, not
        stored twice), else the normalised tile; fsynced: its journal line may follow at once."""
        if raw is not None:
            self.write_image(self.raw_path(index, nm), raw, meta)
        else:
            self.write_image(self.tile_path(index, nm), normalised.astype(np.float32), meta)

    def write_image(self, path: Path, image: np.ndarray, meta: ImageMeta) -> None:
        """An OME-TIFF written beside and renamed into place, file and folder fsynced."""
        self._check_write(path)
        try:
            write_ome_tiff(path, image, meta)
        except StorageError as err:
            full = _disk_full_text(path, image.nbytes)
            if full is not None:
                raise StorageError(full) from err
            raise
        try:
            fsync_file(path)
            fsync_dir(path.parent)
        except OSError as err:
            raise storage_error(path, err) from err

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
            entries = {
                str(e.get("id", "bg0")): e for e in self.read_manifest().get("backgrounds") or []
            }
            dp = self.dark_path(nm, str(entries.get(bg_id, {}).get("dark_id", "bg0")))
            first: dict[str, Any] = next(iter(entries.values()), {})
            if first.get("dark_frames") and not dp.exists():  # never normalise without it
                raise StorageError(
                    f"{dp}: missing; the scan took dark frames and its tiles cannot be "
                    "normalised without them"
                )
            dark = read_ome_tiff(dp)[0].astype(np.float32) if dp.exists() else None
            self._denominators[key] = (normalise_denominator(bg, dark), dark)
        return self._denominators[key]


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two existing paths (folders included) in one atomic step (Linux renameat2 with
    RENAME_EXCHANGE): a reader sees one or the other, never neither. False where the system
    cannot (then nothing changed and the caller swaps in two renames)."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    ok = bool(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0)
    if ok:
        fsync_dir(a.parent)
    return ok


def _empty_tree(path: Path) -> bool:
    """A folder holding nothing but (nested) empty folders."""
    return path.is_dir() and not path.is_symlink() and all(_empty_tree(p) for p in path.iterdir())


def image_problem(
    path: Path, shape_px: tuple[int, int] | None, dtype: type[np.generic]
) -> str | None:
    """Why the image at ``path`` is not a whole uvscope OME-TIFF of that shape and dtype."""
    import tifffile

    problem = tiff_damage(path)
    if problem is not None:
        return problem
    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            got_shape, got_dtype, ome = tuple(page.shape), page.dtype, tf.ome_metadata
    except Exception as err:  # tifffile raises many kinds for damaged files
        return f"not a readable TIFF ({err})"
    if not ome:
        return "no OME metadata (not written by uvscope)"
    if got_dtype != np.dtype(dtype):
        return f"pixel type {got_dtype}, expected {np.dtype(dtype)}"
    if shape_px is not None and got_shape[:2] != tuple(shape_px):
        return f"shape {got_shape}, expected {tuple(shape_px)}"
    return None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The whole records of a framed JSON Lines file (torn or damaged lines dropped)."""
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    except OSError as err:
        raise StorageError(f"cannot read {path}: {err.strerror or err}") from None
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        rec = parse_record(line)
        if rec is not None:  # torn write at a kill: the tile is redone
            out.append(rec)
    return out
