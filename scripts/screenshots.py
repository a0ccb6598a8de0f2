"""Screenshots of the operator's window on the simulated rig, for the README and for review.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python scripts/screenshots.py [--out docs/screenshots]

(or under Xvfb: ``xvfb-run -a python scripts/screenshots.py``). It connects the simulated rig,
shows the live view, fills the scan set-up form, runs a small scan (with analysis when the
analysis pipeline and its models are installed) and grabs each main view.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from uvscope.acquisition.events import RunState  # noqa: E402
from uvscope.config import RegionConfig, ScanConfig, load_rig  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.gui.main_window import MainWindow  # noqa: E402


def wait(app: QApplication, cond, timeout_s: float) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.01)
    return False


def grab(app: QApplication, widget: QWidget, path: Path) -> None:
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    widget.grab().save(str(path))
    print(f"wrote {path}")


def _models_available() -> bool:
    """Analysis screenshots need the trained models (uvscope train); skip them otherwise."""
    try:
        from uvscope.analysis.models import load_models

        load_models(device="cpu")
    except Exception as err:  # noqa: BLE001 - reported, the other views are still taken
        print(f"no analysis screenshots: {err}")
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--columns", type=int, default=4)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    rig = build_rig(load_rig(None))
    scan_dir = Path(tempfile.mkdtemp(prefix="uvscope-shots-")) / "slide-001"
    win = MainWindow(rig, live_on_connect=True, ask=lambda *a: True)
    win.resize(1500, 900)
    win.show()
    wait(app, lambda: win.panel.position is not None, 30)

    # live view
    wait(app, lambda: win.live.frames_shown > 8, 60)
    win.tabs.setCurrentIndex(0)
    # the cursor's stage position, as if the mouse rested on the image
    win.live._on_mouse(win.live.vb.mapViewToScene(QPointF(900, 400)))
    grab(app, win, args.out / "live-view.png")

    # scan set-up
    x, y, _ = win.panel.position
    analysis = win.controller.analysis_factory is not None and _models_available()
    scan = ScanConfig(
        name="slide-001",
        region=RegionConfig(center_mm=(x, y), rows=args.rows, columns=args.columns),
        output_dir=scan_dir, save_raw=False,
    ).replace(analysis={"enabled": analysis}, background={"frames": 4, "dark_frames": 2})
    win.form.set_config(scan)
    win.left_tabs.setCurrentIndex(1)
    grab(app, win, args.out / "scan-setup.png")

    # scan
    win.left_tabs.setCurrentIndex(0)
    win.start_scan()
    total = args.rows * args.columns
    wait(app, lambda: len(win.scan_view.mosaic.tiles) >= total // 2, 120)
    grab(app, win, args.out / "scan-running.png")
    wait(app, lambda: win.scan_view.state in (RunState.FINISHED, RunState.FAILED,
                                              RunState.ABORTED), 600)
    wait(app, lambda: len(win.scan_view.mosaic.tiles) >= total, 30)
    grab(app, win, args.out / "scan-mosaic-gray.png")
    if analysis:
        win.scan_view.mode_buttons["stained"].setChecked(True)
        grab(app, win, args.out / "scan-mosaic-stained.png")
        win.scan_view.mode_buttons["outlines"].setChecked(True)
        grab(app, win, args.out / "scan-mosaic-outlines.png")
        win.tabs.setCurrentIndex(2)
        grab(app, win, args.out / "cells-and-differential.png")
    win.close()


if __name__ == "__main__":
    main()
