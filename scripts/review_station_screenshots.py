"""The review station's overview, comparison and reference cells, as pictures.

    xvfb-run -a -s "-screen 0 1920x1080x24" env PYTHONPATH=. \\
        python scripts/review_station_screenshots.py SCAN_DIR docs/screenshots

Opens the operator's window on the simulated rig (maximised, as ``uvscope gui`` does), opens
an analysed scan folder for review (as "Open scan for review..." does) and grabs the window
from the X server (see scripts/screenshots.py): the gallery of the largest class with its
reference cells under it (review-reference-cells.png), the all-classes page
(review-all-classes.png) and the three least sure cells of that class compared side by side
(review-compare.png). Any analysed scan serves; one with many cells shows more rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from PySide6.QtWidgets import QApplication  # noqa: E402
from screenshots import grab, settle, show_window, wait  # noqa: E402

from uvscope.config import load_rig  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.gui.main_window import MainWindow  # noqa: E402
from uvscope.gui.results import REVIEW_CLASSES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("scan", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="1500x900", help="window size offscreen")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    from uvscope.gui.app import prepare_application

    prepare_application(app)
    win = MainWindow(build_rig(load_rig(None)), live_on_connect=False, ask=lambda *a: True)
    show_window(app, win, args.size)
    if not win.open_scan(args.scan):
        raise SystemExit(f"could not open {args.scan}: see the window's banner")
    g = win.results.gallery
    with (args.scan / "analysis" / "cells.csv").open(encoding="utf-8") as f:
        expected = sum(1 for _ in f) - 1
    wait(app, lambda: len(g.cells()) >= expected, 300)
    settle(app, 1.0)
    print(f"window {win.width()} x {win.height()}, {len(g.cells())} cells")
    cls = max(REVIEW_CLASSES, key=g.count)
    g.select(g.order(cls)[0])
    g.lists[cls].setFocus()
    grab(app, win, args.out / "review-reference-cells.png")
    g.show_overview(True)
    grab(app, win, args.out / "review-all-classes.png")
    g.show_overview(False)
    lw = g.lists[cls]
    lw.clearSelection()
    for i in range(min(3, lw.count())):
        lw.item(i).setSelected(True)
    view = g.compare_selected()
    if view is None:
        raise SystemExit(f"fewer than 2 {cls} cells: nothing to compare")
    view.resize(min(1200, win.width() - 100), min(520, win.height() - 100))
    view.move(win.geometry().center() - view.rect().center())
    view.activateWindow()
    settle(app, 0.3)
    view.columns[1].setFocus()
    grab(app, view, args.out / "review-compare.png")
    view.close()
    win.close()
    settle(app, 0.5)


if __name__ == "__main__":
    main()
