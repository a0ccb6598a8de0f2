"""Live view: saturation shown, per-wavelength exposure presets, auto-exposure, scan form."""

from __future__ import annotations

import numpy as np
import pytest

from uvscope.drivers.base import Frame, FrameMeta
from uvscope.gui.exposure import auto_expose, bright_level, full_scale
from uvscope.gui.live_view import SATURATED_RGBA, LiveViewWidget, auto_levels
from uvscope.gui.main_window import MainWindow


class OneFrame:
    fps = 10.0

    def __init__(self, img: np.ndarray) -> None:
        self.frame = Frame(img, FrameMeta(50.0, 0.0, 1))

    def latest(self) -> Frame:
        return self.frame


@pytest.fixture(scope="module")
def sim_rig():
    from uvscope.config import load_rig
    from uvscope.drivers.rig import build_rig

    return build_rig(load_rig(None))  # the full simulated rig: real per-wavelength power


@pytest.mark.parametrize("nm", [280, 300])
def test_auto_exposure_brings_a_saturated_wavelength_to_the_target(sim_rig, nm) -> None:
    cam, level = sim_rig.camera, full_scale(sim_rig.camera.bit_depth)
    sim_rig.filter_wheel.move_to_wavelength(nm)

    def snap(ms: float) -> np.ndarray:
        cam.set_exposure_ms(ms)
        return cam.snap().image

    assert (snap(50.0) >= level).mean() > 0.3  # the 260 nm default saturates here
    result = auto_expose(snap, 50.0, level, cam.exposure_range_ms)
    assert result.converged and result.frames <= 8
    check = snap(result.exposure_ms)  # a new frame, judged on its own
    assert int((check >= level).sum()) == 0
    assert 0.62 < bright_level(check) / level < 0.78


def test_saturated_pixels_are_painted_red_and_counted(qtbot) -> None:
    w = LiveViewWidget(pixel_size_um=0.5, bit_depth=14)
    qtbot.addWidget(w)
    img = np.full((96, 128), 6000, np.uint16)
    img[10:20, 30:40] = 16383
    w.set_source(OneFrame(img))
    assert w.refresh()
    assert w.saturated_px == 100 and "SATURATED: 100 px" in w.saturation_label.text()
    ov = w.overlay.image
    assert w.overlay.isVisible() and ov.shape == (96, 128, 4)
    assert tuple(ov[15, 35]) == SATURATED_RGBA and ov[50, 50, 3] == 0
    w.set_source(OneFrame(np.full((96, 128), 6000, np.uint16)))
    w.last_index = -1
    assert w.refresh() and not w.overlay.isVisible()
    assert w.saturation_label.text() == "not saturated"


def test_a_fully_saturated_frame_shows_white_not_black() -> None:
    lo, hi = auto_levels(np.full((64, 64), 16383, np.uint16))
    assert lo < hi == 16383  # the flat value sits at the top of the levels


def test_presets_follow_the_wavelength_and_reach_the_scan_form(qtbot, flat_rig) -> None:
    win = MainWindow(flat_rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.live.frames_shown >= 1, timeout=10_000)
    session = win.live_session
    assert session.presets.get(260) == win.form.wl_exposure[260].value()  # from the form
    win.panel.exposure.setValue(12.0)
    win.panel.exposure_requested.emit(12.0)  # typed at 260 nm
    qtbot.waitUntil(lambda: "12 ms" in win.live.exposure_label.text(), timeout=10_000)
    assert win.form.wl_exposure[260].value() == 12.0
    assert "260 nm 12 ms" in win.form.live_exposures.text()
    session.set_preset(280, 1.5)
    win.live.wl_buttons[280].click()
    qtbot.waitUntil(lambda: "1.5 ms" in win.live.exposure_label.text(), timeout=10_000)
    assert win.panel.exposure.value() == 1.5 and win.panel.filter.currentData() == 280
    assert win.form.wl_exposure[280].value() == 1.5
    win.live.wl_buttons[260].click()  # back: 260 nm's own exposure returns
    qtbot.waitUntil(lambda: "12 ms" in win.live.exposure_label.text(), timeout=10_000)
    win.close()


def test_auto_exposure_button_sets_the_preset_and_the_form(qtbot, flat_rig) -> None:
    win = MainWindow(flat_rig, analysis_factory=None, ask=lambda *a: True, live_on_connect=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.live.frames_shown >= 1, timeout=10_000)
    with qtbot.waitSignal(win.live_session.auto_exposed, timeout=20_000) as sig:
        win.live.auto_exposure_button.click()
    result = sig.args[0]
    assert result.saturated_px == 0
    assert win.live_session.presets.get(260) == pytest.approx(result.exposure_ms)
    assert win.form.wl_exposure[260].value() == pytest.approx(result.exposure_ms, abs=0.05)
    assert win.live_session.running  # live view came back
    assert "auto exposure 260 nm" in win.statusBar().currentMessage()
    win.close()
