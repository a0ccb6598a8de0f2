"""Reusing a scan folder in which nothing was acquired.

A start that fails or is killed before the first tile (a device error during the darks, a
kill while the models load) leaves a folder with uvscope's own start-up files only: the
manifest, an empty journal, darks and backgrounds, empty sub-folders, the lock file, the
logs. There is no tile to resume, so ``scan --out DIR`` takes such a folder over: its
start-up files are replaced once every check of the new scan has passed. Anything else in
it (a tile, a file a user put there) makes it an ordinary occupied folder, refused as before.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from uvscope.errors import StorageError
from uvscope.io.lock import LOCK_FILE_NAME, FolderLock
from uvscope.io.scanfolder import LAYOUT, ScanFolder

#: kept across a takeover: the writer lock and the append-only logs (they say what happened)
_KEPT = (LOCK_FILE_NAME, "uvscope.log", "events.jsonl")
#: uvscope's own start-up files, by folder ("" the scan folder itself)
_STARTUP = {
    "": ("manifest.json", "tiles.jsonl", "*.part"),
    "background": ("bg_*.ome.tif", "dark_*.ome.tif", "*.part"),
}
#: folders that hold nothing once nothing was acquired (unfinished ``.part`` writes aside)
_EMPTY_DIRS = (*(d for d in LAYOUT if d != "background"), "analysis", "analysis.partial")


def startup_leftovers(root: Path) -> list[Path] | None:
    """The start-up files to replace if ``root`` holds a scan start in which nothing was
    acquired; None if it holds no manifest, or anything more (a tile, other files)."""
    folder = ScanFolder(root)
    if not folder.manifest_path.is_file():
        return None
    try:
        folder.read_manifest()
    except StorageError:
        return None  # a damaged or foreign manifest is not ours to replace
    journal = folder.journal_path
    if journal.exists() and (not journal.is_file() or journal.stat().st_size > 0):
        return None  # a journal line, even a torn one: a tile was (being) taken
    leftovers: list[Path] = []
    try:
        for entry in root.iterdir():
            found = _leftovers_in(entry)
            if found is None:
                return None
            leftovers += found
    except OSError:
        return None  # unreadable: not ours to judge (the ordinary refusal names it)
    return leftovers


def _leftovers_in(entry: Path) -> list[Path] | None:
    """The start-up files at ``entry`` (a top-level entry of the folder), or None if it
    holds anything uvscope does not write before the first tile."""
    if entry.name in _KEPT:
        return []
    if entry.is_symlink():
        return None
    if entry.is_file():
        return [entry] if _matches(entry.name, _STARTUP[""]) else None
    if not entry.is_dir():
        return None
    patterns = _STARTUP.get(entry.name, ("*.part",) if entry.name in _EMPTY_DIRS else None)
    if patterns is None:
        return None
    found: list[Path] = []
    for p in entry.rglob("*"):
        if p.is_symlink() or (p.is_file() and not _matches(p.name, patterns)):
            return None
        if p.is_file():
            found.append(p)
        elif not p.is_dir():
            return None
    return found


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in patterns)


def claim_for_new_scan(root: Path) -> tuple[ScanFolder, list[Path]]:
    """Lock ``root`` for a new scan; writes nothing. Returns the claimed folder and the
    start-up files of an earlier start to remove once every check has passed (empty for a
    new or empty folder). Refuses an occupied folder (``ScanFolder.claim_new``'s rules)."""
    lock = FolderLock(root, "scan", create=True).acquire()  # first: one claimant wins
    try:
        leftovers = startup_leftovers(root)
        if leftovers is None:
            return ScanFolder.claim_new(root), []  # takes the lock again (re-entrant)
        folder = ScanFolder(root)
        folder.writer_lock = FolderLock(root, "scan").acquire()
        return folder, leftovers
    finally:
        lock.release()  # the folder's own hold (if it got one) keeps the lock


def remove_startup_files(folder: ScanFolder, leftovers: list[Path]) -> None:
    """Remove an earlier start's files (all checks passed, the lock held)."""
    for path in leftovers:
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            raise StorageError(
                f"cannot remove {path} (left by an earlier start in which nothing was "
                f"acquired): {err.strerror or err}"
            ) from err


def killed_start_text(root: Path) -> str | None:
    """What ``--resume`` says of a folder an earlier start left before its manifest (a kill
    while the models loaded): None if ``root`` holds more than that."""
    if (root / "manifest.json").exists() or not (root / LOCK_FILE_NAME).is_file():
        return None  # a scan, or a folder no uvscope scan ever started in
    try:
        if any(_leftovers_in(entry) != [] for entry in root.iterdir()):
            return None  # any file but the lock and the logs
    except OSError:
        return None
    return (
        f"{root}: nothing was acquired there (the scan stopped before it wrote "
        f"manifest.json), so there is nothing to resume; start the scan again with "
        f"`uvscope scan --out {root}`, which reuses the folder"
    )
