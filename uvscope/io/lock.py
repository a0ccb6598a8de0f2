"""The one writer lock of a scan folder.

A scan folder has exactly one writer at a time: a scan, a resume, an analysis, a re-export.
Two writers on one folder interleave journal lines, fight over the stage and overwrite each
other's results, so every process that writes a folder holds this lock for as long as it
writes.

The lock is an OS lock (``fcntl.flock``, exclusive, non-blocking) on the file
``DIR/.uvscope.lock``. The OS releases it when the holding process ends, however it ends
(``kill -9``, a crash, a power cut on the host), so there is no stale lock to clean up by
hand. Inside the file the holder records who it is (pid, host, since, purpose), so a refused
second writer can say whom it is waiting for and what to do.

Public API (stable; other rooms depend on it)::

    from uvscope.io.lock import FolderLock, LockHolder, lock_folder, read_holder

    with lock_folder(scan_dir, "analyze"):      # raises uvscope.errors.FolderLocked
        ...                                     # write DIR/analysis, swap results, ...

    lock = FolderLock(scan_dir, "scan", create=True).acquire()   # held for the process
    ...
    lock.release()

    read_holder(scan_dir)   # -> LockHolder | None: who writes it now (None: nobody)

- ``lock_folder(root, purpose, create=False)`` returns an acquired :class:`FolderLock`; use
  it as a context manager. ``purpose`` is a short word shown to a refused writer
  ("scan", "resume", "analyze", "export", ...).
- ``create=True`` makes the folder (and parents) first. Take the lock *before* checking
  whether a folder already holds a scan: of two simultaneous creators exactly one wins the
  lock, and the other is refused with :class:`~uvscope.errors.FolderLocked` (or, once the
  first has written its manifest, finds the scan there).
- Re-entrant within one process: a process that already holds a folder's lock (``scan``
  running its analysis afterwards, the GUI analysing the scan it just took) may take it again
  from any thread; the lock is released when the outermost holder releases it. The holder
  record keeps the outermost purpose. Locks are per process, not per thread: the threads of
  one process coordinate among themselves.
- Errors: :class:`~uvscope.errors.FolderLocked` (a ``StorageError``) when another process
  holds the lock, its ``holder`` attribute the :class:`LockHolder` (``None`` if the holder had
  not yet written its record); ``StorageError`` when the lock file cannot be made (a
  read-only folder, a missing folder without ``create=True``).

Limits: ``flock`` is advisory (a process that does not take the lock is not stopped) and on
network file systems works only where the server supports it (NFSv4 does; Linux maps
``flock`` to POSIX locks there). POSIX only: uvscope's rigs run Linux.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from uvscope.errors import FolderLocked, StorageError

LOCK_FILE_NAME = ".uvscope.lock"

# one open lock file per folder per process: flock locks belong to open file descriptions,
# so a second open() in the same process would conflict with the first
_held: dict[str, _Held] = {}
_held_guard = threading.Lock()


@dataclass(frozen=True)
class LockHolder:
    """Who holds a folder's lock: recorded in the lock file by the holder."""

    pid: int
    host: str
    since: str  # ISO 8601, UTC
    purpose: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, {self.purpose} since {self.since}"


@dataclass
class _Held:
    fd: int
    holder: LockHolder
    count: int


def _key(root: Path) -> str:
    return os.path.realpath(root)


def _read_record(fd: int) -> LockHolder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw.decode("utf-8"))
        return LockHolder(
            int(data["pid"]), str(data["host"]), str(data["since"]), str(data["purpose"])
        )
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _open_lock_file(root: Path, create: bool) -> int:
    try:
        if create:
            root.mkdir(parents=True, exist_ok=True)
        elif not root.is_dir():
            raise StorageError(f"{root} is not a folder; check the path")
        return os.open(root / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except FileExistsError:  # mkdir: something that is not a folder stands at ``root``
        raise StorageError(_not_a_folder(root)) from None
    except OSError as err:
        raise StorageError(
            f"cannot lock {root} for writing ({err.strerror or err}); the folder must exist "
            "and be writable"
        ) from err


def _not_a_folder(root: Path) -> str:
    if root.is_symlink():
        target = os.readlink(root)
        return (
            f"{root} is a symbolic link to {target}, which is not an existing folder (a "
            f"dangling or looping link); create the folder it points to, or choose another"
        )
    return f"{root} exists and is not a folder; choose another folder"


def _refusal(root: Path, fd: int, purpose: str) -> FolderLocked:
    # the holder writes its record right after it wins the lock: give it a moment
    holder = None
    for _ in range(20):
        holder = _read_record(fd)
        if holder is not None:
            break
        time.sleep(0.01)
    who = holder.describe() if holder is not None else "another process (not yet identified)"
    kill = (
        f" (kill {holder.pid})"
        if holder is not None and holder.host == socket.gethostname()
        else ""
    )
    return FolderLocked(
        f"{root} is being written by {who}; {purpose} refused so the two do not overwrite "
        f"each other. Wait for it to finish, or stop it first{kill}, then try again.",
        holder=holder,
    )


def _flock_soon(fd: int, patience_s: float = 0.05) -> None:
    """Exclusive flock, retried for a moment: ``read_holder`` probes with a brief shared lock,
    which must not turn a free folder away."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class FolderLock:
    """The writer lock of one scan folder (see the module docstring)."""

    def __init__(self, root: str | Path, purpose: str = "scan", *, create: bool = False) -> None:
        self.root = Path(root)
        self.purpose = purpose
        self.create = create
        self._acquired = False

    @property
    def held(self) -> bool:
        return self._acquired

    def acquire(self) -> FolderLock:
        """Take the lock now or raise ``FolderLocked``; never waits for another writer."""
        if self._acquired:
            return self
        with _held_guard:
            key = _key(self.root)
            held = _held.get(key)
            if held is not None:
                held.count += 1
                self._acquired = True
                return self
            fd = _open_lock_file(self.root, self.create)
            try:
                _flock_soon(fd)
            except OSError as err:
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    refusal = _refusal(self.root, fd, self.purpose)
                    os.close(fd)
                    raise refusal from None
                os.close(fd)
                raise StorageError(f"cannot lock {self.root}: {err.strerror or err}") from err
            holder = LockHolder(
                os.getpid(),
                socket.gethostname(),
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                self.purpose,
            )
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(asdict(holder)).encode("utf-8"), 0)
                os.fsync(fd)
            except OSError:
                pass  # a full disk: the lock holds, only the holder's record is missing
            _held[key] = _Held(fd, holder, 1)
            self._acquired = True
            return self

    def release(self) -> None:
        """Give the lock up (the outermost holder in this process lets the OS release it)."""
        if not self._acquired:
            return
        self._acquired = False
        with _held_guard:
            key = _key(self.root)
            held = _held.get(key)
            if held is None:
                return
            held.count -= 1
            if held.count > 0:
                return
            del _held[key]
            try:
                os.ftruncate(held.fd, 0)  # no stale record for the next reader
            except OSError:
                pass
            os.close(held.fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_folder(root: str | Path, purpose: str = "scan", *, create: bool = False) -> FolderLock:
    """An acquired lock on ``root``; use as ``with lock_folder(dir, "analyze"): ...``."""
    return FolderLock(root, purpose, create=create).acquire()


def read_holder(root: str | Path) -> LockHolder | None:
    """Who holds the lock of ``root`` now (this process included), or None if nobody does.

    ``pid`` is 0 in the moment between a holder winning the lock and writing its record.
    """
    root = Path(root)
    with _held_guard:
        held = _held.get(_key(root))
        if held is not None:
            return held.holder
    path = root / LOCK_FILE_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            # held, but the holder has not written its record yet
            return _read_record(fd) or LockHolder(0, "", "", "unknown")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
