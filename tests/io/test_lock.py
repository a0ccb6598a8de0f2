"""The scan-folder writer lock, against real second processes (the OS is the referee)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from uvscope.errors import FolderLocked, StorageError
from uvscope.io.lock import LOCK_FILE_NAME, FolderLock, lock_folder, read_holder

HOLDER = """
import sys
from uvscope.io.lock import lock_folder
lock = lock_folder(sys.argv[1], sys.argv[2], create=True)
print("locked", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
sys.stdin.readline()
"""

TRY = """
import json, sys
from uvscope.errors import FolderLocked
from uvscope.io.lock import lock_folder
try:
    with lock_folder(sys.argv[1], "analyze"):
        print(json.dumps({"got": True}))
except FolderLocked as err:
    h = err.holder
    print(json.dumps({"got": False, "message": str(err), "pid": h.pid if h else None}))
"""


def _start_holder(folder: Path, purpose: str = "scan") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), purpose],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _try_in_subprocess(folder: Path) -> dict[str, object]:
    import json

    out = subprocess.run(
        [sys.executable, "-c", TRY, str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_second_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    folder = tmp_path / "scan"
    proc = _start_holder(folder, "scan")
    try:
        with pytest.raises(FolderLocked) as info:
            lock_folder(folder, "resume")
        err = info.value
        assert isinstance(err, StorageError)
        assert err.holder is not None and err.holder.pid == proc.pid
        msg = str(err)
        assert f"pid {proc.pid}" in msg and socket.gethostname() in msg and "scan since" in msg
        assert f"kill {proc.pid}" in msg and "resume refused" in msg
        holder = read_holder(folder)
        assert holder is not None and holder.pid == proc.pid and holder.purpose == "scan"
    finally:
        proc.kill()
        proc.wait()


def test_kill_9_releases_the_lock(tmp_path: Path) -> None:
    folder = tmp_path / "scan"
    proc = _start_holder(folder)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert read_holder(folder) is None
    with lock_folder(folder, "resume") as lock:
        assert lock.held
        holder = read_holder(folder)
        assert holder is not None and holder.pid == os.getpid() and holder.purpose == "resume"
    assert read_holder(folder) is None


def test_release_lets_the_next_process_in(tmp_path: Path) -> None:
    folder = tmp_path / "scan"
    proc = _start_holder(folder)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        first = _try_in_subprocess(folder)
        assert first["got"] is False and first["pid"] == proc.pid
        assert f"pid {proc.pid}" in str(first["message"])
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "released"
        assert _try_in_subprocess(folder) == {"got": True}
    finally:
        proc.kill()
        proc.wait()


def test_a_holder_here_refuses_other_processes(tmp_path: Path) -> None:
    with lock_folder(tmp_path, "scan"):
        res = _try_in_subprocess(tmp_path)
        assert res["got"] is False and res["pid"] == os.getpid()
    assert _try_in_subprocess(tmp_path) == {"got": True}


def test_reentrant_within_a_process_released_by_the_outermost(tmp_path: Path) -> None:
    outer = lock_folder(tmp_path, "scan")
    seen: list[bool] = []

    def inner() -> None:  # another thread of the same process (the GUI's analysis)
        with lock_folder(tmp_path, "analyze"):
            seen.append(read_holder(tmp_path).purpose == "scan")  # type: ignore[union-attr]

    t = threading.Thread(target=inner)
    t.start()
    t.join()
    assert seen == [True]
    assert _try_in_subprocess(tmp_path)["got"] is False  # still held by the outer one
    outer.release()
    outer.release()  # idempotent
    assert _try_in_subprocess(tmp_path) == {"got": True}


def test_missing_or_unwritable_folder_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not a folder"):
        lock_folder(tmp_path / "nope")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # running as root: permissions do not bind
            pytest.skip("permissions are not enforced for this user")
        with pytest.raises(StorageError, match="writable"):
            lock_folder(ro)
    finally:
        ro.chmod(0o700)


def test_lock_file_lives_in_the_folder_and_is_cleared_on_release(tmp_path: Path) -> None:
    with FolderLock(tmp_path / "a" / "b", "scan", create=True):
        path = tmp_path / "a" / "b" / LOCK_FILE_NAME
        assert b'"purpose": "scan"' in path.read_bytes()
    assert path.read_bytes() == b""


def test_simultaneous_creators_exactly_one_wins(tmp_path: Path) -> None:
    """Eight processes race for one new folder; the OS lets exactly one in."""
    racer = """
import sys
from uvscope.errors import FolderLocked
from uvscope.io.lock import lock_folder
print("ready", flush=True)
sys.stdin.readline()
try:
    lock = lock_folder(sys.argv[1], "scan", create=True)
    print("won", flush=True)
except FolderLocked:
    print("refused", flush=True)
sys.stdin.readline()  # hold until every racer has answered
"""
    folder = tmp_path / "new"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", racer, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(8)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:  # as close together as one thread can
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [p.stdout.readline().strip() for p in procs]  # type: ignore[union-attr]
        assert sorted(results) == ["refused"] * 7 + ["won"]
    finally:
        for p in procs:
            p.kill()
            p.wait()
