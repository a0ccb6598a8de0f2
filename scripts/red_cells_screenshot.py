"""The "Red cells and platelets" tab over a finished scan folder, as a picture.

    xvfb-run -a -s "-screen 0 1920x1080x24" env PYTHONPATH=. \\
        python scripts/red_cells_screenshot.py SCAN_DIR docs/screenshots/red-cells.png

Opens the operator's window on the simulated rig (sized for the screen, as ``uvscope gui``
does), loads the scan's red cells and platelets into their tab as the window does when a scan
finishes, selects the least sure cell of the largest abnormal class (with --review, reclassifies
it as normal, as key 1 does, and selects the next) and grabs the window from the X server (see
scripts/screenshots.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from PySide6.QtWidgets import QApplication  # noqa: E402
from screenshots import grab, on_x_server, settle, wait  # noqa: E402

from uvscope.classes import RBC_CLASSES  # noqa: E402
from uvscope.config import load_rig  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.gui.main_window import MainWindow  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("scan", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="1500x900", help="window size (on a screen: at most)")
    ap.add_argument(
        "--review",
        action="store_true",
        help="reclassify the selected cell as normal first (writes analysis/reviewed_rbc.csv)",
    )
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    from uvscope.gui.app import prepare_application

    prepare_application(app)
    win = MainWindow(build_rig(load_rig(None)), live_on_connect=False, ask=lambda *a: True)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    if on_x_server(app):
        win.fit_to_screen(size)
    else:
        win.resize(*size)
    win.show()
    wait(app, lambda: win.panel.position is not None, 30)
    panel = win.red_cells
    ready: list[bool] = []
    panel.gallery_ready.connect(lambda: ready.append(True))
    panel.load(args.scan)
    win.tabs.setCurrentWidget(panel)
    if not wait(app, lambda: bool(ready), 120):
        sys.exit("the gallery did not fill in 120 s")
    gallery = panel.gallery
    abnormal = max(RBC_CLASSES[1:], key=gallery.count)
    if gallery.count(abnormal):
        gallery.select(gallery.order(abnormal)[0])
        gallery.lists[abnormal].setFocus()
        if args.review:
            gallery.reclassify_selected("normal")
    settle(app, 1.0)
    print(f"window {win.width()} x {win.height()}; showing {abnormal}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grab(app, win, args.out)
    win.close()
    settle(app, 0.5)


if __name__ == "__main__":
    main()
