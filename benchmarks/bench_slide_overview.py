"""Slide overview and report figures: what the map costs per scanned tile, and the printed
report's page count.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python benchmarks/bench_slide_overview.py

Overview: tiles are added to the map as a scan adds them (serpentine over a square region, the
default camera's field, 15 % overlap) and the widget is painted after each one, as the window
does while the Slide tab is shown; the time per tile (add + paint) is reported at 300 tiles (a
100-WBC count) and further on, since the filled path grows with every tile. Report: the
report of a normal slide (200 WBCs, 5 reviewed to blast, the red-cell section, signed off) and
of a larger one (300 WBCs, 40 reviewed), printed to A4 by headless Chromium; pages counted in
the PDF (needs Debian's chromium).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402


def overview_per_tile(n_tiles: int) -> list[tuple[int, float]]:
    from uvscope.acquisition.plan import fov_mm
    from uvscope.config import RigConfig
    from uvscope.gui.slide_overview import SlideOverview

    rig = RigConfig()
    fov = fov_mm(rig.camera.width_px, rig.camera.height_px, rig.camera.pixel_size_um)
    ov = SlideOverview()
    ov.resize(1400, 900)
    ov.configure(rig, fov)
    ov.show()
    side = int(n_tiles**0.5) + 1
    step = (fov[0] * 0.85, fov[1] * 0.85)
    out, marks = [], {100, 300, 1000, 3000, n_tiles}
    app = QApplication.instance()
    for k in range(n_tiles):
        r, c = divmod(k, side)
        c = c if r % 2 == 0 else side - 1 - c
        ov.add_tile(40 + c * step[0], 30 + r * step[1])
        ov.set_position(40 + c * step[0], 30 + r * step[1])
        ov.plot.viewport().repaint()
        app.processEvents()
        if k + 1 in marks:
            out.append((k + 1, time.perf_counter()))
    ov.close()
    return out


def report_pages(root: Path) -> list[tuple[str, int, float]]:
    from tests.report._report_fixture import make_scan, printed_pages, review
    from tests.report.test_report_cbc import HEALTHY, write_cbc
    from uvscope.analysis.review import sign_off
    from uvscope.report.page import write_report

    rows = []
    for name, classes, reviewed, cbc in (
        ("normal slide", HEALTHY * 2 + ["basophil"] * 2 + ["dead"] * 6, 5, True),
        ("300 WBCs, 40 reviewed", HEALTHY * 3 + ["basophil"] * 4 + ["dead"] * 30, 40, False),
    ):
        scan = make_scan(root / name.replace(" ", "_"), classes, low_confidence=10, tiles=3)
        review(scan, [(f"t{i % 3:05d}c{i:04d}", classes[i], "blast") for i in range(reviewed)])
        if cbc:
            write_cbc(scan)
        sign_off(scan, "A. Tech")
        t0 = time.perf_counter()
        report = write_report(scan)
        dt = time.perf_counter() - t0
        pages = printed_pages(report)
        rows.append((name, pages, dt))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tiles", type=int, default=3000)
    args = ap.parse_args()
    QApplication.instance() or QApplication([])
    t0 = time.perf_counter()
    prev_n, prev_t = 0, t0
    for n, t in overview_per_tile(args.tiles):
        print(f"overview: tiles {prev_n + 1}-{n}: {1e3 * (t - prev_t) / (n - prev_n):.2f} ms/tile")
        prev_n, prev_t = n, t
    if shutil.which("chromium") is None:
        print("report: no chromium, pages not counted")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name, pages, dt in report_pages(Path(tmp)):
            print(f"report ({name}): {pages} A4 pages, written in {dt:.2f} s")


if __name__ == "__main__":
    main()
