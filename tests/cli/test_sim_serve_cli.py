"""``uvscope sim serve`` refuses what it cannot honour: a negative time scale, a second
server on a folder whose port links another server owns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from uvscope.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("scale", ["-1", "nan", "inf"])
def test_time_scale_must_be_finite_and_not_negative(tmp_path: Path, scale: str) -> None:
    r = CliRunner().invoke(main, ["sim", "serve", "--dir", str(tmp_path), "--time-scale", scale])
    assert r.exit_code == 2, r.output
    assert "--time-scale" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "fw102c").exists()


def test_a_second_server_on_the_same_dir_is_refused(tmp_path: Path) -> None:
    links = tmp_path / "emu"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(
        [sys.executable, "-m", "uvscope", "sim", "serve", "--dir", str(links)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 60
        while not (links / "apt-bbd").exists():
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, "the first server did not start"
            time.sleep(0.05)
        wheel_target = os.readlink(links / "fw102c")
        r = CliRunner().invoke(main, ["sim", "serve", "--dir", str(links)])
        assert r.exit_code == 2, r.output
        assert f"pid {first.pid}" in r.output and "sim serve" in r.output
        assert "Traceback" not in r.output
        assert os.readlink(links / "fw102c") == wheel_target  # the first one's links stand
    finally:
        first.send_signal(signal.SIGINT)
        out = first.communicate(timeout=30)[0].decode()
    assert first.returncode == 0, out
