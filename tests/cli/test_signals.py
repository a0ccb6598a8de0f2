"""Ctrl-C and SIGTERM against the real CLI process: stop at a tile boundary, say how to resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.io.scanfolder import ScanFolder

REPO = Path(__file__).resolve().parents[2]

RIG = SMALL_RIG

SCAN = small_scan(6, 6)


def _start(tmp: Path, *extra: str) -> subprocess.Popen[str]:
    (tmp / "rig.toml").write_text(RIG)
    (tmp / "scan.toml").write_text(SCAN)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvscope",
            "scan",
            "--config",
            str(tmp / "scan.toml"),
            "--rig",
            str(tmp / "rig.toml"),
            "--out",
            str(tmp / "out"),
            "--quiet",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )


def _wait_for_tiles(out: Path, n: int, proc: subprocess.Popen[str], limit_s: float = 60) -> None:
    journal = out / "tiles.jsonl"
    t_end = time.monotonic() + limit_s
    while time.monotonic() < t_end:
        if journal.exists() and len(journal.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.01)
    raise AssertionError("the scan did not get going")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_at_a_tile_boundary_and_resume_finishes(
    tmp_path: Path, sig: int, code: int
) -> None:
    proc = _start(tmp_path, "--no-analysis")
    out = tmp_path / "out"
    _wait_for_tiles(out, 3, proc)
    proc.send_signal(sig)
    text = " ".join(proc.communicate(timeout=60)[0].split())  # rich wraps lines
    assert proc.returncode == code, text
    assert "Traceback" not in text and "Aborted!" not in text
    assert f"uvscope scan --resume {out}" in text
    folder = ScanFolder(out)
    m = folder.read_manifest()
    assert m["status"] == "interrupted"
    (ev,) = [e for e in folder.read_events() if e["kind"] == "interrupted"]
    assert signal.Signals(sig).name in ev["message"] and "--resume" in ev["message"]
    done = ev["tiles_done"]
    assert 3 <= done < 36 and len(folder.verified_tiles()) == done
    assert len(folder.journal_path.read_text().splitlines()) == done  # nothing half-written
    r = subprocess.run(
        [sys.executable, "-m", "uvscope", "scan", "--resume", str(out), "--quiet", "--no-analysis"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    indices = [json.loads(x)["index"] for x in folder.journal_path.read_text().splitlines()]
    assert sorted(indices) == list(range(36))
    assert folder.read_manifest()["status"] == "complete"


@pytest.mark.slow
def test_a_second_ctrl_c_does_not_wait_for_the_analysis(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--analysis")
    out = tmp_path / "out"
    _wait_for_tiles(out, 2, proc, limit_s=180)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    text = " ".join(proc.communicate(timeout=60)[0].split())
    waited_s = time.monotonic() - t0
    assert proc.returncode == 130, text
    assert "Traceback" not in text
    assert "without waiting for the analysis" in text and "uvscope analyze" in text
    assert waited_s < 20
    folder = ScanFolder(out)
    assert folder.read_manifest()["status"] == "interrupted"
    n = len(folder.verified_tiles())
    assert n >= 2 and len(folder.journal_path.read_text().splitlines()) == n


def test_ctrl_c_stops_a_batch_not_just_its_scan(tmp_path: Path) -> None:
    (tmp_path / "rig.toml").write_text(RIG)
    (tmp_path / "scan.toml").write_text(SCAN)
    (tmp_path / "batch.toml").write_text(
        'rig = "rig.toml"\n[[scans]]\nconfig = "scan.toml"\nout = "a"\n'
        '[[scans]]\nconfig = "scan.toml"\nout = "b"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvscope", "batch", str(tmp_path / "batch.toml"), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    _wait_for_tiles(tmp_path / "a", 2, proc)
    proc.send_signal(signal.SIGINT)
    text = " ".join(proc.communicate(timeout=60)[0].split())
    assert proc.returncode == 130, text
    assert "not started (batch interrupted)" in text and "Traceback" not in text
    assert ScanFolder(tmp_path / "a").read_manifest()["status"] == "interrupted"
    assert not (tmp_path / "b").exists()
