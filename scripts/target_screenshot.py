"""Pictures of "count N WBCs" in the operator's window: the set-up, the scan and the map.

    xvfb-run -a -s "-screen 0 1920x1080x24" env PYTHONPATH=. \\
        python scripts/target_screenshot.py --out docs/screenshots
    xvfb-run -a -s "-screen 0 1366x768x24" env PYTHONPATH=. \\
        python scripts/target_screenshot.py --out docs/screenshots/1366

Opens the window on the simulated rig (maximised, as ``uvscope gui`` does) and fills the
set-up as an operator does for a differential: sample, slide and operator, "Scan until:
count 200 healthy WBCs" from "Here" within the default maximum area, analysis on with the
shipped models. Grabs the set-up with its estimate beside the Slide tab (target-setup.png),
starts the scan, and once the scan view shows the estimate from the density measured (10
tiles analysed) grabs the scan tab (target-running.png) and the Slide tab zoomed on the
area the scan may reach: the start star and the tiles grown so far (target-slide.png), as an
operator zooms with the wheel; then aborts the scan (its files stay) and says how long it
ran.
Needs an X server for pictures as the operator sees them (see scripts/screenshots.py).
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
from uvscope.config import SampleConfig, ScanConfig, load_rig  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.gui.main_window import MainWindow  # noqa: E402

SAMPLE = SampleConfig(id="H-2026-0412", slide_id="SL-7731", operator="A. Operator")


def setup(app: QApplication, win: MainWindow, out_dir: Path) -> None:
    """The set-up as the operator leaves it: identity, count 200 from here, analysis on."""
    scan = ScanConfig(name="slide-001", output_dir=out_dir, save_raw=False, sample=SAMPLE)
    win.form.set_config(scan.replace(background={"frames": 4, "dark_frames": 2}))
    win.form.by_target.setChecked(True)  # turns the analysis on
    win.form.target_n.setCurrentText("200")
    win.form.start_here.click()
    win.left_tabs.setCurrentIndex(1)
    win.tabs.setCurrentWidget(win.overview)  # the start star and the most area reached
    settle(app, 1.0)  # the form's debounced estimate and the map's plan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    ap.add_argument("--size", default="1500x900", help="window size (offscreen)")
    ap.add_argument("--timeout-s", type=float, default=1200, help="most time to wait")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    from uvscope.gui.app import prepare_application

    prepare_application(app)
    rig = build_rig(load_rig(None))
    out_dir = Path(tempfile.mkdtemp(prefix="uvscope-target-")) / "slide-001"
    win = MainWindow(rig, live_on_connect=False, ask=lambda *a: True)
    show_window(app, win, args.size)
    setup(app, win, out_dir)
    grab(app, win, args.out / "target-setup.png")
    print(f"estimate before start: {win.form.estimate_label.text()}")

    t0 = time.monotonic()
    win.left_tabs.setCurrentIndex(0)
    win.start_scan()
    label = win.scan_view.target_label
    if not wait(app, lambda: label.text().startswith("Estimate:"), args.timeout_s):
        print(f"no measured estimate after {args.timeout_s:.0f} s: {label.text()}")
    win.tabs.setCurrentIndex(1)
    mosaic = win.scan_view.mosaic
    xs = [t.x_mm * 1e3 for t in mosaic.tiles.values()] or [0.0]
    ys = [t.y_mm * 1e3 for t in mosaic.tiles.values()] or [0.0]
    side = 2.5 * max(max(xs) - min(xs), max(ys) - min(ys), 500.0)
    mosaic.fit(QRectF((min(xs) + max(xs) - side) / 2, (min(ys) + max(ys) - side) / 2, side, side))
    settle(app, 1.0)  # the finer level of the tiles now in view
    grab(app, win, args.out / "target-running.png")
    ov = win.overview
    win.tabs.setCurrentWidget(ov)
    if ov.plan_bounds_mm is not None:
        x0, y0, x1, y1 = ov.plan_bounds_mm
        ov.box.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0.1)
    settle(app, 0.5)
    grab(app, win, args.out / "target-slide.png")
    print(
        f"after {time.monotonic() - t0:.0f} s: {win.scan_view.rate_label.text()}; "
        f"{label.text()}; window {win.width()} x {win.height()}"
    )
    win.controller.abort()
    wait(app, lambda: win.scan_view.state not in (RunState.PREPARING, RunState.RUNNING), 300)
    win.close()
    settle(app, 0.5)


if __name__ == "__main__":
    main()
