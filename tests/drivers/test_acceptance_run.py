"""The hardware acceptance run itself, driven against emulated serial devices and the
simulated camera: the procedure a lab runs on day one works before it meets the rig."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from uvscope.config import RigConfig, dump_toml
from uvscope.sim.serve import start_emulators

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_acceptance_run_passes_on_an_emulated_unhomed_rig(tmp_path):
    with start_emulators(
        link_dir=tmp_path,
        time_scale=0.01,
        start_homed=False,
        start_mm=(40.0, 30.0),
        start_z_um=5000.0,
    ) as emus:
        rig = RigConfig.model_validate(
            {
                "name": "emulated acceptance rig",
                "camera": {
                    "width_px": 64,
                    "height_px": 48,
                    "pixel_size_um": 0.5,
                    "readout_ms": 1.0,
                },
                "filter_wheel": {
                    "backend": "serial",
                    "port": emus.wheel.path,
                    "move_ms_per_slot": 10.0,
                },
                "stage": {
                    "backend": "serial",
                    "port": emus.apt.path,
                    "settle_ms": 0.0,
                    "x_limits_mm": (30.0, 60.0),
                    "y_limits_mm": (20.0, 50.0),
                },
                "focus": {
                    "backend": "serial",
                    "port": emus.apt.path,
                    "settle_ms": 0.0,
                    "limits_um": (0.0, 9000.0),
                },
                "sim": {"real_time": True},
            }
        )
        path = tmp_path / "rig.toml"
        path.write_text(dump_toml(rig), encoding="utf-8")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-m",
                "hardware",
                "--rig",
                str(path),
                "-p",
                "no:cacheprovider",
                "tests/hardware",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert "4 passed" in run.stdout
        assert emus.apt.violations == [] and emus.apt.errors == []
        assert all(ax.homed for ax in emus.apt.axes.values())
