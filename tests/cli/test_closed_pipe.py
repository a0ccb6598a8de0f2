"""``uvscope scan ... | head -1``: a reader that goes away never stops or crashes a scan."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.cli.streams import PipeSafeStream
from uvscope.io.scanfolder import ScanFolder

REPO = Path(__file__).resolve().parents[2]


def _scan_with_reader_gone(tmp_path: Path, extra: list[str], merge_stderr: bool) -> tuple:
    (tmp_path / "rig.toml").write_text(SMALL_RIG)
    (tmp_path / "scan.toml").write_text(small_scan(2, 2))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "uvscope", "scan", "--config", str(tmp_path / "scan.toml")]
    cmd += ["--rig", str(tmp_path / "rig.toml"), "--out", str(out), "--no-analysis", *extra]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "UVSCOPE_LOG_DIR": str(tmp_path / "logs")},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # like `head -1`: one line, then the pipe is closed
    proc.stdout.close()
    return proc.wait(timeout=120), first, out


@pytest.mark.parametrize(
    ("extra", "merge"), [([], True), (["--json"], False)], ids=["messages", "json"]
)
def test_a_closed_pipe_leaves_the_scan_complete(tmp_path: Path, extra: list[str], merge) -> None:
    code, first, out = _scan_with_reader_gone(tmp_path, extra, merge)
    assert code == 0, first
    folder = ScanFolder.open(out)
    assert folder.read_manifest()["status"] == "complete"
    assert sorted(folder.verified_tiles()) == [0, 1, 2, 3]
    assert "complete" in (out / "uvscope.log").read_text()  # the messages are kept there
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").iterdir())


class _Gone(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


class _Full(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_the_wrapper_drops_messages_after_epipe_and_keeps_other_errors() -> None:
    gone = PipeSafeStream(_Gone())
    assert gone.write("a line\n") == 7 and gone.closed_pipe
    gone.write("more\n")
    gone.flush()
    with pytest.raises(OSError, match="No space"):
        PipeSafeStream(_Full()).write("x")
