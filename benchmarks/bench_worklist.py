"""How fast the worklist lists a folder of scans and a stored scan opens for review.

    PYTHONPATH=. python benchmarks/bench_worklist.py SCAN_DIR [--copies 200]

SCAN_DIR is one finished, analysed scan (e.g. the one `scripts/screenshots.py` leaves in
/tmp/uvscope-shots-*/slide-001). Its small files (manifest, differential, sign-off, journal)
are copied ``--copies`` times into a temporary folder to time ``list_scans`` (what the
worklist reads); then every tile of SCAN_DIR is read as the review needs it (normalised tile,
stained tile, labels, crops and the mosaic pyramid levels, `iter_tiles`) to give tiles per
second, so the time to reopen an N-tile scan can be estimated. Prints figures only.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from uvscope.gui.stored_scan import iter_tiles, open_stored_scan
from uvscope.gui.worklist import list_scans

SMALL = ("manifest.json", "tiles.jsonl", "analysis/differential.json", "analysis/signoff.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("scan_dir", type=Path)
    ap.add_argument("--copies", type=int, default=200)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="uvscope-bench-worklist-"))
    try:
        for i in range(args.copies):
            for name in SMALL:
                src = args.scan_dir / name
                if src.exists():
                    dst = root / f"scan-{i:04d}" / name
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
        t0 = time.perf_counter()
        entries = list_scans(root)
        t_list = time.perf_counter() - t0
        print(f"list_scans: {len(entries)} scans in {t_list:.3f} s "
              f"({1e3 * t_list / max(1, len(entries)):.2f} ms a scan)")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    scan = open_stored_scan(args.scan_dir)
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = cells = 0
    for _tile, _images, thumbs in iter_tiles(scan):
        n += 1
        cells += len(thumbs)
    t_tiles = time.perf_counter() - t0
    print(f"open_stored_scan (manifest, differential, journal): {1e3 * t_open:.1f} ms")
    print(f"iter_tiles: {n} tiles, {cells} cells in {t_tiles:.2f} s "
          f"({n / t_tiles:.2f} tiles/s; a 290-tile scan: ~{290 * t_tiles / n:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
