"""The "Slide" tab (the slide overview) during a second scan of a slide, as a picture.

    xvfb-run -a -s "-screen 0 1920x1080x24" env PYTHONPATH=. \\
        python scripts/overview_screenshot.py docs/screenshots/slide-overview.png

Opens the operator's window on the simulated rig (maximised, as ``uvscope gui`` does), scans a
small region of slide SL-7731 without analysis, then sets up a second region of the same slide
beside it by dragging on the map (as an operator does), starts that scan and grabs the window
from the X server (see scripts/screenshots.py) while its tiles come in: the smear outline,
the first scan's stage mosaic in place, the planned region with its start tile, the tiles
scanned so far and the current field. Prints how long the map took to redraw per tile.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from PySide6.QtCore import QRectF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from screenshots import grab, settle, show_window, wait  # noqa: E402

from uvscope.acquisition.events import RunState  # noqa: E402
from uvscope.config import RegionConfig, SampleConfig, ScanConfig, load_rig  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.gui.main_window import MainWindow  # noqa: E402

SLIDE = SampleConfig(id="H-2026-0412", slide_id="SL-7731", operator="A. Operator")


def _scan(out: Path, centre: tuple[float, float], rows: int, columns: int) -> ScanConfig:
    return ScanConfig(
        name=out.name,
        region=RegionConfig(center_mm=centre, rows=rows, columns=columns),
        output_dir=out,
        save_raw=False,
        sample=SLIDE,
    ).replace(analysis={"enabled": False}, background={"frames": 2, "dark_frames": 1})


def _run(app: QApplication, win: MainWindow) -> None:
    win.start_scan()
    wait(app, lambda: win.scan_view.state in (RunState.FINISHED, RunState.FAILED), 600)
    wait(app, lambda: win.panel.goto_button.isEnabled(), 120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="1500x900", help="window size (offscreen)")
    ap.add_argument(
        "--view",
        choices=("scans", "smear"),
        default="scans",
        help="zoom on the two scans, or show the whole smear with them",
    )
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    from uvscope.gui.app import prepare_application

    prepare_application(app)
    rig = build_rig(load_rig(None))
    root = Path(tempfile.mkdtemp(prefix="uvscope-overview-"))
    win = MainWindow(rig, live_on_connect=False, ask=lambda *a: True)
    show_window(app, win, args.size)
    x, y, _ = win.panel.position
    # the first scan of the slide: its stage mosaic is what the second one is drawn beside
    win.form.set_config(_scan(root / "slide-001", (x, y), 3, 4))
    _run(app, win)
    # the second: the operator drags its region on the map beside the first one
    win.form.set_config(_scan(root / "slide-001-b", (x, y), 3, 4))
    win.tabs.setCurrentWidget(win.overview)
    ov = win.overview
    b = ov.plan_bounds_mm or (x - 1, y - 1, x + 1, y + 1)
    w, h = b[2] - b[0], b[3] - b[1]
    win.form.set_region_corners(b[2] + 0.3 * w, b[1], b[2] + 1.5 * w, b[3] + 0.8 * h)
    settle(app, 1.0)  # the form's debounced `changed` redraws the plan and reads slide-001
    if args.view == "scans":
        ov.box.setRange(QRectF(b[0] - 4 * w, b[1] - 3 * h, 9 * w, 7 * h), padding=0)
    else:
        ov.box.setRange(ov.slide_item.rect(), padding=0.05)
    t0 = time.perf_counter()
    win.start_scan()
    total = len(win.controller.plan(win.form.config()).tiles)
    wait(app, lambda: len(ov.tiles_mm) >= total * 2 // 3, 600)  # cleared at the start
    win.tabs.setCurrentWidget(ov)  # the start showed the Scan tab
    grab(app, win, args.out)
    print(
        f"{len(ov.earlier)} earlier scan(s) of {SLIDE.slide_id} drawn; {len(ov.tiles_mm)} tiles "
        f"on the map after {time.perf_counter() - t0:.1f} s; window {win.width()} x {win.height()}"
    )
    wait(app, lambda: win.scan_view.state in (RunState.FINISHED, RunState.FAILED), 600)
    win.close()
    settle(app, 0.5)


if __name__ == "__main__":
    main()
