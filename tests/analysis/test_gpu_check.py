"""benchmarks/gpu_check.sh runs every step on CPU (``--device cpu --quick``), so the script a
GPU machine will run is exercised here, where none is lent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_runs_on_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out"),
           "UVSCOPE_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cpu", "--quick",
         "--no-install"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = (tmp_path / "out" / "bench_gpu.txt").read_text()
    # one measured row per small network and batch, FLOPs for the paper-sized ones
    rows = [r for r in out.splitlines() if r.startswith("| small |")]
    assert len(rows) == 4 and all(float(r.split("|")[6]) > 0 for r in rows), out
    paper = [r for r in out.splitlines() if r.startswith("| paper |")]
    assert len(paper) == 2 and all(float(r.split("|")[4]) > 100 for r in paper), out
    assert "sequential:" in out and "same cells: True" in out
    assert "lag from the last tile to the differential" in out
    assert "CUDA tests" in proc.stdout
