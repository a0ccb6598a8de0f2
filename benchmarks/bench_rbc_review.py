"""How long the "Red cells and platelets" tab takes to fill from a finished scan folder.

    PYTHONPATH=. python benchmarks/bench_rbc_review.py SCAN_DIR

Prints the objects read from rbc.csv / platelets.csv (with their borderline margins), the
time to read them, the time to crop the thumbnails the gallery shows (off the GUI thread in
the window) and their memory.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from uvscope.analysis.rbc_review import load_smear_objects, shown_objects, thumbnails
from uvscope.gui.rbc_gallery import MAX_SHOWN


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("scan", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    objects = load_smear_objects(args.scan)
    t1 = time.perf_counter()
    shown = shown_objects(objects, {}, MAX_SHOWN)
    thumbs = thumbnails(args.scan, shown)
    t2 = time.perf_counter()
    mb = sum(v.nbytes for v in thumbs.values()) / 1e6
    borderline = sum(o.borderline for o in objects)
    print(f"{len(objects)} objects ({borderline} borderline) read in {t1 - t0:.2f} s")
    print(
        f"{len(thumbs)} thumbnails (<= {MAX_SHOWN} per class) cropped in {t2 - t1:.2f} s, "
        f"{mb:.1f} MB"
    )


if __name__ == "__main__":
    main()
