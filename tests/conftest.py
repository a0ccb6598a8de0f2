"""Shared fixtures: small simulated rigs that keep the suite fast."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


class FlatWorld:
    """A tiny stand-in world for engine tests: illumination field, offset, marks by position.

    Engine tests check timing, files and control flow, not optics, so they use this instead
    of the full simulator (which has its own tests in tests/sim).
    """

    def __init__(self, width: int, height: int, pixel_size_um: float) -> None:
        self.w, self.h, self.px = width, height, pixel_size_um
        yy, xx = np.mgrid[0:height, 0:width]
        r2 = ((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2
        self.field = (1.0 - 0.5 * r2).astype(np.float32)
        self.renders = 0

    def blank_position_mm(self) -> tuple[float, float]:
        return (35.0, 25.0)

    def surface_z_um(self, x_mm: float, y_mm: float) -> float:
        return 5000.0

    def render(self, x_mm, y_mm, z_um, wavelength_nm, exposure_ms, rng):
        self.renders += 1
        if wavelength_nm is None:
            return np.full((self.h, self.w), 100, np.uint16)
        power = {260: 0.5, 280: 4.0, 300: 0.8}[wavelength_nm]
        img = 100 + 60 * power * exposure_ms * self.field
        # a dark spot wherever a stage-fixed 50 um grid point falls in the field
        if abs(x_mm - 35.0) > 0.2:  # not on the blank region
            gx = (x_mm * 1000 + (np.arange(self.w) - self.w / 2) * self.px) % 50 < 5
            gy = (y_mm * 1000 + (np.arange(self.h) - self.h / 2) * self.px) % 50 < 5
            img = img * np.where(gy[:, None] & gx[None, :], 0.5, 1.0)
        return np.clip(img, 0, 16383).astype(np.uint16)


@pytest.fixture(autouse=True)
def _no_configured_rig(monkeypatch, tmp_path_factory):
    """A lab PC's UVSCOPE_RIG or user config must never point the tests at real hardware."""
    monkeypatch.delenv("UVSCOPE_RIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture
def small_rig_config():
    from uvscope.config import CameraConfig, RigConfig

    return RigConfig(camera=CameraConfig(width_px=128, height_px=96, pixel_size_um=0.5))


@pytest.fixture
def flat_rig(small_rig_config):
    from uvscope.sim.devices import build_sim_rig

    cam = small_rig_config.camera
    return build_sim_rig(
        small_rig_config, renderer=FlatWorld(cam.width_px, cam.height_px, cam.pixel_size_um)
    )


#: a test that runs longer than this is stuck: dump every thread's stack and end the run
HANG_LIMIT_S = float(os.environ.get("UVSCOPE_TEST_HANG_LIMIT_S", "600"))


_HANG_REPORT_FD: list[int] = []


def pytest_addoption(parser):
    parser.addoption(
        "--rig",
        default=None,
        metavar="RIG.toml",
        help="the rig the `hardware` acceptance tests drive (tests/hardware)",
    )


def pytest_configure(config):
    import sys

    _HANG_REPORT_FD.append(os.dup(sys.stderr.fileno()))  # the terminal, not a capture file


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Watchdog for hangs that pytest-timeout cannot end (a thread deadlocked holding the GIL,
    a timeout raised inside a Qt slot and swallowed there): faulthandler's watchdog needs no
    GIL, prints where every thread stands and exits, so a hang costs minutes, not the CI run."""
    import faulthandler

    faulthandler.dump_traceback_later(HANG_LIMIT_S, exit=True, file=_HANG_REPORT_FD[0])
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


def pytest_sessionfinish(session, exitstatus):
    """An analysis worker left running by a test can crash the interpreter at exit (its
    daemon thread inside torch while Python tears down): fail the run and say so, so the
    test that leaked it gets a close()/abort() rather than a flaky CI."""
    import sys
    import threading

    left = [t for t in threading.enumerate() if t.name == "uvscope-analysis" and t.is_alive()]
    if left and session.exitstatus == 0:
        sys.stderr.write(
            f"\n{len(left)} analysis worker thread(s) still running after the tests: a test "
            "created an AnalysisSession/AnalysisWorker and never closed or aborted it\n"
        )
        session.exitstatus = 1
