"""Live view in the window against the simulated rig."""

from __future__ import annotations

from uvscope.gui.main_window import MainWindow


def test_live_view_shows_frames_and_switches_wavelength(qtbot, flat_rig):
    win = MainWindow(flat_rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.live.frames_shown >= 2, timeout=10_000)
    assert win.live.image.image.shape == (96, 128)
    win.live.wl_buttons[300].click()
    qtbot.waitUntil(
        lambda: win.live_session.running and win.live_session.wavelength_nm == 300, timeout=10_000
    )
    shown = win.live.frames_shown
    qtbot.waitUntil(lambda: win.live.frames_shown > shown + 1, timeout=10_000)
    assert flat_rig.filter_wheel.wavelength_nm == 300
    win.panel.exposure.setValue(20.0)
    win.panel.exposure_requested.emit(20.0)
    qtbot.waitUntil(lambda: "20 ms" in win.live.exposure_label.text(), timeout=10_000)
    win.close()
    assert not win.live_session.running
    assert win.live.source is None or not win.live.timer.isActive()


def test_a_camera_fault_stops_live_view_with_advice(qtbot, small_rig_config):
    from tests.conftest import FlatWorld
    from uvscope.sim.devices import build_sim_rig
    from uvscope.sim.faults import FaultInjector

    faults = FaultInjector()
    cam = small_rig_config.camera
    rig = build_sim_rig(
        small_rig_config,
        faults=faults,
        renderer=FlatWorld(cam.width_px, cam.height_px, cam.pixel_size_um),
    )
    win = MainWindow(rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.live.frames_shown >= 1, timeout=10_000)
    faults.add("camera", "trigger", "timeout", count=None)
    qtbot.waitUntil(lambda: win.banner.isVisible(), timeout=10_000)
    assert "live view stopped" in win.banner.label.text()
    assert "Reconnect" in win.banner.label.text()
    assert not win.live.timer.isActive()


def test_autofocus_from_the_panel_finds_the_slide(qtbot):
    from uvscope.config import CameraConfig, RigConfig
    from uvscope.sim.devices import build_sim_rig

    rig = build_sim_rig(RigConfig(camera=CameraConfig(width_px=192, height_px=144)))
    win = MainWindow(rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(
        lambda: win.live.frames_shown >= 1 and win.panel.position is not None, timeout=20_000
    )
    x, y, z = win.panel.position
    truth = rig.world.surface_z_um(x, y)
    win.panel.focus_to(truth + 8.0)
    qtbot.waitUntil(lambda: abs(win.panel.position[2] - (truth + 8.0)) < 1e-6, timeout=10_000)
    win.panel.autofocus_button.click()
    qtbot.waitUntil(lambda: win.panel.autofocus_button.isEnabled(), timeout=60_000)
    qtbot.waitUntil(lambda: abs(win.panel.position[2] - truth) < 1.5, timeout=10_000)
    qtbot.waitUntil(lambda: win.live_session.running, timeout=10_000)  # live view is back
