"""Replay a finished target-count scan through the target estimate with other pace rules.

    PYTHONPATH=. python benchmarks/replay_count_n_estimate.py SCAN_DIR [SCAN_DIR ...]
        [--target 200] [--at 20,40,80,160,320]

A run of ``bench_count_n.py`` leaves its scan folder: when each tile was written (the tile
files' modification times), when each tile's analysis was written (``analysis/labels``) and
the healthy WBCs counted in each tile (``analysis/cells.csv``, counted and not dead). These
are fed, in time order, to ``target_estimate.TargetWatch`` as the CLI feeds it, with the
shipped pace window and others, and with the pace since the first tile (the rule before
the window); each projection at ``--at`` analysed tiles is set against the real time from
the first tile to the last analysed. File times are the writers' (a little after the
events the live run saw), so the shipped rule's figures agree with the live ones within a
few percent. Prints; never asserts.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition import target_estimate  # noqa: E402
from uvscope.classes import CLASSES  # noqa: E402

WINDOWS = [(10, 50), (20, 50), (20, 100)]
Event = tuple[float, int | None, int]  # time, tile analysed (None: a tile taken), its WBCs


def timeline(scan: Path) -> list[Event]:
    """Every tile taken and every tile analysed, in time order."""
    healthy: dict[int, int] = {}
    with open(scan / "analysis" / "cells.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["counted"] == "True" and row["dead"] == "False" and row["cell_class"] in CLASSES:
                healthy[int(row["tile"])] = healthy.get(int(row["tile"]), 0) + 1
    events: list[Event] = [(os.path.getmtime(p), None, 0) for p in (scan / "tiles").iterdir()]
    for p in (scan / "analysis" / "labels").iterdir():
        index = int(p.name[5:10])  # tile_00012.tif
        events.append((os.path.getmtime(p), index, healthy.get(index, 0)))
    return sorted(events, key=lambda e: e[0])


def replay(
    events: list[Event], target: int, at: list[int], window: tuple[int, int] | None
) -> dict[int, float]:
    """Time off (fraction) at each count in ``at``; ``window`` None: the pace since the
    first tile."""
    if window is not None:
        target_estimate.PACE_WINDOW_TILES = window
    first = events[0][0]
    real_s = max(t for t, index, _n in events if index is not None) - first
    watch = target_estimate.TargetWatch(target, 10**6, lambda: 0)
    done = analysed = wbc = 0
    off: dict[int, float] = {}
    for t, index, n in events:
        if index is None:
            done += 1
        else:
            analysed, wbc = analysed + 1, wbc + n
        watch.update(wbc, analysed, done, t)
        est = watch.latest
        if index is None or analysed not in at or est is None:
            continue
        total_s = est.total_s
        if window is None:
            pace = (t - first) / analysed
            total_s = (t - first) + (est.tiles - analysed) * pace
        off[analysed] = total_s / real_s - 1
    return off


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scans", nargs="+", type=Path)
    ap.add_argument("--target", type=int, default=200)
    ap.add_argument("--at", default="20,40,80,160,320")
    args = ap.parse_args()
    at = [int(v) for v in args.at.split(",")]
    shipped = target_estimate.PACE_WINDOW_TILES
    for scan in args.scans:
        events = timeline(scan)
        print(f"{scan}: time off at {at} analysed tiles")
        for window in [*WINDOWS, None]:
            off = replay(events, args.target, at, window)
            name = "since the first tile" if window is None else f"window {window}"
            name += " (shipped)" if window == shipped else ""
            print(f"  {name}: " + ", ".join(f"{n}: {100 * v:+.0f} %" for n, v in off.items()))
        target_estimate.PACE_WINDOW_TILES = shipped


if __name__ == "__main__":
    main()
