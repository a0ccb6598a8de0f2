"""The live view widget: newest frame wins, auto levels, stage position under the cursor."""

from __future__ import annotations

import numpy as np
import pytest

from uvscope.drivers.base import Frame, FrameMeta
from uvscope.geometry import stage_to_pixel
from uvscope.gui.live_view import LiveViewWidget, auto_levels


class ListSource:
    """Frames appear in ``frames``; ``latest`` returns only the newest, like the engine's."""

    fps = 10.0

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def push(self, value: int, shape=(96, 128)) -> None:
        img = np.full(shape, value, np.uint16)
        img[0, 0] = 0
        self.frames.append(Frame(img, FrameMeta(30.0, 0.0, len(self.frames))))

    def latest(self) -> Frame | None:
        return self.frames[-1] if self.frames else None


def test_newest_frame_wins_and_stale_frames_are_not_redrawn(qtbot):
    w = LiveViewWidget(pixel_size_um=0.5)
    qtbot.addWidget(w)
    src = ListSource()
    w.set_source(src, 280, 30.0)
    assert w.wl_buttons[280].isChecked()
    assert not w.refresh()  # nothing yet
    for v in (1000, 2000, 3000):
        src.push(v)
    assert w.refresh()
    assert w.image.image[5, 5] == 3000 and w.frames_shown == 1  # skipped the two older ones
    assert not w.refresh()  # same frame: no redraw
    assert "30 ms" in w.exposure_label.text()
    w.set_source(None)
    assert not w.timer.isActive()


def test_auto_levels_follow_the_image():
    img = np.linspace(1000, 9000, 100 * 100).reshape(100, 100).astype(np.uint16)
    lo, hi = auto_levels(img)
    assert 1000 <= lo < 1200 and 8600 < hi <= 9000


def test_cursor_maps_pixels_to_stage_coordinates(qtbot):
    w = LiveViewWidget(pixel_size_um=0.5)
    qtbot.addWidget(w)
    src = ListSource()
    src.push(500)
    w.set_source(src)
    w.refresh()
    assert w.stage_at(10, 10) is None  # position not known yet
    w.stage_mm = (40.0, 30.0)
    x, y = w.stage_at(20.0, 100.0)
    row, col = stage_to_pixel(x, y, (40.0, 30.0), (96, 128), 0.5)
    assert (row, col) == pytest.approx((20.0, 100.0))
    assert x > 40.0 and y < 30.0  # right of centre is +x, above centre is -y
    assert w.scale_bar.size == pytest.approx(100.0)  # 50 um at 0.5 um per pixel
