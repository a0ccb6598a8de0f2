"""The device panel's Home button on an emulated serial rig: asks, homes, shows the state."""

from __future__ import annotations

import pytest

from tests.conftest import FlatWorld
from tests.drivers.conftest import SCALE
from uvscope.config import RigConfig
from uvscope.drivers import apt_protocol as ap
from uvscope.drivers.factory import build_hardware_rig
from uvscope.gui.device_panel import DevicePanel
from uvscope.gui.device_worker import DeviceWorker
from uvscope.sim.serve import start_emulators


@pytest.fixture
def emulated(tmp_path):
    with start_emulators(
        link_dir=tmp_path,
        time_scale=SCALE,
        start_homed=False,
        start_mm=(40.0, 30.0),
        start_z_um=5000.0,
    ) as emus:
        cfg = RigConfig.model_validate(
            {
                "camera": {"width_px": 32, "height_px": 24, "pixel_size_um": 0.5},
                "filter_wheel": {"backend": "serial", "port": emus.wheel.path},
                "stage": {"backend": "serial", "port": emus.apt.path, "settle_ms": 0.0},
                "focus": {"backend": "serial", "port": emus.apt.path, "settle_ms": 0.0},
            }
        )
        rig = build_hardware_rig(cfg, renderer=FlatWorld(32, 24, 0.5), timing_scale=SCALE)
        yield emus, rig
        rig.close()


def _panel(qtbot, rig, answers):
    worker = DeviceWorker()
    asked: list[str] = []

    def ask(title: str, text: str) -> bool:
        asked.append(text)
        return answers.pop(0)

    panel = DevicePanel(rig, worker, ask=ask)
    qtbot.addWidget(panel)
    panel.connect_all()
    qtbot.waitUntil(lambda: panel.homing_state != "unknown", timeout=10_000)
    return panel, worker, asked


def test_home_button_asks_homes_and_shows_the_state(qtbot, emulated):
    emus, rig = emulated
    panel, worker, asked = _panel(qtbot, rig, [False, True])
    try:
        assert panel.homing_state == "not homed: x, y, z"
        assert "NOT HOMED" in panel.homed_label.text()
        panel.home_button.click()  # answered no: nothing moves
        assert asked and "reference switch" in asked[0]
        assert not emus.apt.frames_of(ap.MOT_MOVE_HOME)
        panel.home_button.click()
        qtbot.waitUntil(lambda: panel.homing_state == "homed", timeout=10_000)
        assert panel.homed_label.text() == "homed"
        assert [f.dest for f in emus.apt.frames_of(ap.MOT_MOVE_HOME)] == [0x23, 0x21, 0x22]
        qtbot.waitUntil(
            lambda: panel.position is not None and panel.position[:2] == (0, 0), timeout=5000
        )
        panel.set_scanning(True)
        assert not panel.home_button.isEnabled()
    finally:
        panel.poll_timer.stop()
        worker.shutdown()
