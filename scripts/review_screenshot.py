"""The review panel over an analysed scan folder's real cells, as a picture.

    xvfb-run -a -s "-screen 0 1920x1080x24" env PYTHONPATH=. \\
        python scripts/review_screenshot.py SCAN_DIR OUT.png [--size 1400x820]

Loads analysis/cells.csv, crops each cell from the stained and normalised tiles the scan
wrote (as the window does while scanning), fills the results panel, selects the least
confident cell and saves the panel. For when a full run of scripts/screenshots.py (which
waits for the analysis of a live scan) is too slow on a busy machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402

from uvscope.analysis.settings import CLASSES  # noqa: E402
from uvscope.gui.gallery import CellThumb  # noqa: E402
from uvscope.gui.results import CellRow  # noqa: E402
from uvscope.gui.results_panel import ResultsPanel  # noqa: E402
from uvscope.gui.tile_prep import crop_thumb, to_gray_u8  # noqa: E402
from uvscope.io.ome import read_ome_tiff  # noqa: E402


def thumbs(scan: Path) -> list[CellThumb]:
    rows = list(csv.DictReader((scan / "analysis" / "cells.csv").open(encoding="utf-8")))
    out, tiles = [], {}
    for r in rows:
        t = int(r["tile"])
        if t not in tiles:
            stained = read_ome_tiff(scan / "analysis" / "stained" / f"tile_{t:05d}.tif")[0]
            gray = read_ome_tiff(next((scan / "tiles").glob(f"tile_{t:05d}_*.ome.tif")))[0]
            tiles[t] = (stained, to_gray_u8(gray))
        dead = r.get("dead") == "True"
        probs = {k: float(r[f"p_{k}"]) for k in CLASSES}
        probs["dead"] = float(r["p_dead"])
        rr, cc = int(float(r["row"])), int(float(r["col"]))
        cell = CellRow(
            r["cell_id"], t, "dead" if dead else r["cell_class"], probs,
            float(r["x_um"]), float(r["y_um"]), (rr - 22, cc - 22, rr + 22, cc + 22),
        )  # fmt: skip
        stained, gray = tiles[t]
        out.append(CellThumb(cell, crop_thumb(stained, gray, cell.bbox)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("scan", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="1400x820")
    ap.add_argument("--sign-off", default=None, help="also sign the review off as this name")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    panel = ResultsPanel()
    w, h = (int(v) for v in args.size.split("x"))
    panel.resize(w, h)
    panel.reset(args.scan, analysed=True)
    cells = thumbs(args.scan)
    panel.add_cells(cells)
    from uvscope.gui.results import differential_from_labels

    panel.show_analysis_differential(differential_from_labels([c.cell.cls for c in cells]))
    cls = max(CLASSES, key=panel.gallery.count)
    panel.gallery.select(panel.gallery.order(cls)[0])
    panel.show()
    for _ in range(30):
        app.processEvents()
    if args.sign_off:
        import time

        panel.operator_edit.setText(args.sign_off)
        panel.sign_off()
        end = time.monotonic() + 120
        while "report written" not in panel.saved_label.text() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)
    panel.grab().save(str(args.out))
    print(f"wrote {args.out} ({len(cells)} cells)")


if __name__ == "__main__":
    main()
