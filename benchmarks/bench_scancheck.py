"""How long the scan check every reader makes (``uvscope.io.scancheck``) takes on a scan
folder: headers and OME metadata of every tile, background and dark, and the journal.

    python benchmarks/bench_scancheck.py SCAN_DIR [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

from uvscope.io.scancheck import check_scan
from uvscope.io.scanfolder import ScanFolder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("scan_dir")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    folder = ScanFolder(args.scan_dir)
    check = check_scan(folder)  # warm the page cache: a reader runs after the scan
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        check = check_scan(folder)
        times.append(time.perf_counter() - t0)
    times.sort()
    best, median = times[0] * 1e3, times[len(times) // 2] * 1e3
    n = max(len(check.journal.records), 1)
    files = sum(len(r.wavelengths) for r in check.journal.records.values())
    print(f"{args.scan_dir}: {n} tiles, {files} tile files, {len(check.problems)} problems")
    print(f"check_scan: best {best:.1f} ms, median {median:.1f} ms")
    print(f"per tile: best {best / n:.2f} ms, median {median / n:.2f} ms")


if __name__ == "__main__":
    main()
