"""The slide overview on the simulated rig: a drag sets the set-up's region, a click asks and
moves inside the soft limits (refused outside), the scanned tiles appear live at their stage
positions, and earlier scans of the same slide are drawn where they were scanned."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.gui.test_gui_window import _scan, _window
from uvscope.acquisition.events import RunState
from uvscope.config import RegionConfig, SampleConfig
from uvscope.gui.slide_overview import read_earlier_scan, smear_rect_mm


def _px(overview, x_mm: float, y_mm: float) -> QPoint:
    """The viewport pixel showing stage point (x, y) mm."""
    scene = overview.box.mapViewToScene(QPointF(x_mm, y_mm))
    return overview.plot.mapFromScene(scene)


def _mouse(overview, kind, at: QPoint, buttons) -> None:
    button = Qt.MouseButton.LeftButton
    ev = QMouseEvent(
        kind, QPointF(at), overview.plot.viewport().mapToGlobal(QPointF(at)), button, buttons,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(overview.plot.viewport(), ev)


def _drag(qtbot, overview, a: tuple[float, float], b: tuple[float, float]) -> None:
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    p0, p1 = _px(overview, *a), _px(overview, *b)
    _mouse(overview, QEvent.Type.MouseButtonPress, p0, left)
    for k in range(1, 11):
        p = p0 + (p1 - p0) * (k / 10)
        _mouse(overview, QEvent.Type.MouseMove, p, left)
        qtbot.wait(5)
    _mouse(overview, QEvent.Type.MouseButtonRelease, p1, none)


def _click(qtbot, overview, x_mm: float, y_mm: float) -> None:
    p = _px(overview, x_mm, y_mm)
    _mouse(overview, QEvent.Type.MouseButtonPress, p, Qt.MouseButton.LeftButton)
    _mouse(overview, QEvent.Type.MouseButtonRelease, p, Qt.MouseButton.NoButton)
    qtbot.wait(20)


def test_the_map_shows_limits_smear_and_the_planned_region(qtbot, flat_rig, tmp_path):
    win, _ = _window(qtbot, flat_rig, tmp_path, scan=_scan(tmp_path, rows=2, columns=3))
    ov = win.overview
    assert ov.limits_mm == (0.0, 0.0, 110.0, 75.0)  # the rig's soft limits
    smear = smear_rect_mm(flat_rig.config)
    assert smear == (30.0, 20.0, 55.0, 45.0)  # the simulated slide's smear
    assert ov.slide_item.isVisible() and ov.slide_item.rect() == QRectF(30, 20, 25, 25)
    plan = win.controller.plan(win.form.config())
    assert ov.plan_bounds_mm == pytest.approx(plan.bounds_mm)
    assert ov.start_mm == pytest.approx((plan.tiles[0].x_mm, plan.tiles[0].y_mm))
    qtbot.waitUntil(lambda: ov.position_mm is not None, timeout=5000)
    assert ov.position_mm == pytest.approx(flat_rig.stage.position_mm()[:2], abs=1e-3)
    win.close()


def test_dragging_on_the_map_writes_the_region_into_the_set_up(qtbot, flat_rig, tmp_path):
    win, _ = _window(qtbot, flat_rig, tmp_path, scan=_scan(tmp_path))
    ov = win.overview
    win.tabs.setCurrentWidget(ov)
    ov.box.setRange(QRectF(30, 20, 30, 20), padding=0)
    qtbot.wait(50)
    _drag(qtbot, ov, (35.0, 24.0), (43.0, 30.0))
    assert win.form.by_corners.isChecked()
    (xa, ya), (xb, yb) = win.form.config().region.corners_mm
    mm_per_px = 30.0 / ov.box.width()  # the drag ends on whole pixels
    assert xa == pytest.approx(35.0, abs=2 * mm_per_px) and xb == pytest.approx(
        43.0, abs=2 * mm_per_px
    )
    assert ya == pytest.approx(24.0, abs=2 * mm_per_px) and yb == pytest.approx(
        30.0, abs=2 * mm_per_px
    )
    # the map follows the set-up: the new region is the planned one
    win.overview_feed.refresh()
    x0, y0, x1, y1 = ov.plan_bounds_mm
    assert x0 <= xa and x1 >= xb and y0 <= ya and y1 >= yb
    assert x1 - x0 < (xb - xa) + 0.1  # covered by tiles, not much more
    win.close()


def test_a_click_asks_then_moves_and_outside_the_limits_is_refused(qtbot, flat_rig, tmp_path):
    asked: list[str] = []
    answers = [False, True]
    win, _ = _window(qtbot, flat_rig, tmp_path, ask=lambda t, m: asked.append(m) or answers.pop(0))
    ov = win.overview
    win.tabs.setCurrentWidget(ov)
    qtbot.waitUntil(lambda: win.panel.position is not None, timeout=5000)
    x0, y0 = flat_rig.stage.position_mm()[:2]
    ov.show_all()
    qtbot.wait(50)
    _click(qtbot, ov, 50.0, 40.0)
    assert len(asked) == 1 and "Move the stage to" in asked[0]  # declined: nothing moved
    assert flat_rig.stage.position_mm()[:2] == pytest.approx((x0, y0))
    _click(qtbot, ov, 50.0, 40.0)
    mm_per_px = 110.0 / ov.box.width()
    qtbot.waitUntil(
        lambda: abs(flat_rig.stage.position_mm()[0] - 50.0) < 2 * mm_per_px, timeout=5000
    )
    assert flat_rig.stage.position_mm()[1] == pytest.approx(40.0, abs=2 * mm_per_px)
    _click(qtbot, ov, -2.0, 40.0)  # left of the soft limits (the map shows a margin)
    assert "outside the stage's soft limits" in win.banner.label.text()
    assert len(asked) == 2  # never asked about the refused move
    assert flat_rig.stage.position_mm()[0] > 0.0
    win.close()


def test_scanned_tiles_are_drawn_live_at_their_stage_positions(qtbot, flat_rig, tmp_path):
    win, _ = _window(qtbot, flat_rig, tmp_path, scan=_scan(tmp_path, rows=2, columns=3))
    ov = win.overview
    win.tabs.setCurrentWidget(ov)
    seen: list[int] = []
    win.controller.progress.connect(lambda p: seen.append(len(ov.tiles_mm)))
    win.scan_view.start_button.click()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=20_000)
    qtbot.waitUntil(lambda: len(ov.tiles_mm) == 6, timeout=5000)
    assert any(0 < n < 6 for n in seen)  # drawn while the scan ran, not only at its end
    plan = win.controller.plan(win.form.config())
    drawn = [v for xy in sorted(ov.tiles_mm) for v in xy]
    planned = [v for xy in sorted((t.x_mm, t.y_mm) for t in plan.tiles) for v in xy]
    assert drawn == pytest.approx(planned)  # flat: approx takes no nested tuples
    # on screen: the pixel at a tile's centre is the tiles' green, beside the region it is not
    x0, y0, x1, y1 = plan.bounds_mm
    ov.box.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0.3)
    ov.here_item.setData([], [])
    ov.field_item.setVisible(False)  # the stage's field sits on the last tile
    qtbot.wait(50)
    img = ov.plot.grab().toImage()
    t = plan.tiles[0]
    at = ov.plot.mapTo(ov.plot, _px(ov, t.x_mm, t.y_mm))
    c = img.pixelColor(at)
    assert c.green() > c.red() + 20 and c.green() > c.blue() + 20, c.name()
    out = img.pixelColor(ov.plot.mapTo(ov.plot, _px(ov, x1 + (x1 - x0) * 0.2, y0)))
    assert out.green() - out.red() < 10, out.name()
    # the finished scan opened for review: its tiles are on the map again, read from disk
    qtbot.waitUntil(win.panel.goto_button.isEnabled, timeout=20_000)
    assert win.open_scan(tmp_path / "scan")
    assert ov.tiles_mm == []  # the live scan's tiles are gone; the stored ones come from disk
    qtbot.waitUntil(lambda: len(ov.tiles_mm) == 6, timeout=10_000)
    drawn = [v for xy in sorted(ov.tiles_mm) for v in xy]
    planned = [v for xy in sorted((t.x_mm, t.y_mm) for t in plan.tiles) for v in xy]
    assert drawn == pytest.approx(planned)  # flat: approx takes no nested tuples
    win.close()


def _earlier_scan(root, name: str, slide: str, bounds: tuple[float, float, float, float]):
    import tifffile

    folder = root / name
    (folder / "mosaic").mkdir(parents=True)
    manifest = {
        "config": {"sample": {"id": "S-1", "slide_id": slide}},
        "created": "2026-12-07T10:00:00+01:00",
        "status": "complete",
        "plan": {"bounds_mm": list(bounds)},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    img = np.tile(np.linspace(0.2, 1.0, 200, dtype=np.float32), (120, 1))
    tifffile.imwrite(folder / "mosaic" / "mosaic_260.ome.tif", img)
    return folder


def test_earlier_scans_of_the_same_slide_are_drawn_in_place(qtbot, flat_rig, tmp_path):
    root = tmp_path / "scans"
    same = _earlier_scan(root, "first", "B-7", (38.0, 28.0, 42.0, 30.4))
    _earlier_scan(root, "other", "B-8", (10.0, 10.0, 12.0, 12.0))
    scan = _scan(root).replace(
        sample=SampleConfig(id="S-1", slide_id="B-7", operator="A. Tech"),
        output_dir=root / "second",
        region=RegionConfig(center_mm=(40.0, 29.0), rows=2, columns=2),
    )
    win, _ = _window(qtbot, flat_rig, tmp_path, scan=scan)
    win.overview_feed.refresh()
    shown = win.overview.earlier
    assert [s.folder for s, _ in shown] == [same]  # not the other slide's scan
    scan_, item = shown[0]
    rect = item.mapRectToParent(item.boundingRect())
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == pytest.approx(
        (38.0, 28.0, 42.0, 30.4)
    )
    assert scan_.image.dtype == np.uint8 and scan_.image[:, -1].mean() > scan_.image[:, 0].mean()
    assert read_earlier_scan(tmp_path) is None  # no manifest: nothing drawn, no error
    win.close()
