"""Count N WBCs at real size: a target-count scan on the default simulated slide, its
estimate from the first tiles against the time it really took, scored against the truth.

    PYTHONPATH=. python benchmarks/bench_count_n.py [--target 200] [--max-area 30]
        [--estimate-at 20,40,80,160] [--out /tmp/bench-count-n] [--no-stain] [--device auto]

The embedded default scan file with ``[target] wbc = --target`` (start: the smear centre, the
default region's centre) on the built-in simulated rig (healthy donor, default seed and tilt,
virtual clock), the analysis streaming beside it as `uvscope scan --target-wbc` runs it. The
target estimate is followed as the CLI follows it (``target_estimate.TargetWatch``, updated at
every tile taken and every tile analysed, on the wall clock); at each tile count in
``--estimate-at`` (analysed tiles) its latest projection is kept, and at the end each is set
against the real time from the first tile to the last tile analysed (the count complete;
the run's end, after the end products, is printed too). The load average is printed at the
start and the end (the analysis shares the CPU). Then the focus and the differential are
scored against the truth (``bench_differential.report``). Prints; never asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_differential import report  # noqa: E402

from uvscope.acquisition.engine import ScanEngine  # noqa: E402
from uvscope.acquisition.target_estimate import TargetEstimate, TargetWatch  # noqa: E402
from uvscope.analysis.evaluate import evaluate_scan_folder  # noqa: E402
from uvscope.analysis.session import session_for_scan  # noqa: E402
from uvscope.config import load_rig, load_scan  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.io.stage_sink import StageMosaicSink  # noqa: E402


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, default=200)
    ap.add_argument("--max-area", type=float, default=30.0)
    ap.add_argument("--estimate-at", default="20,40,80,160")
    ap.add_argument("--out", default="/tmp/bench-count-n")
    ap.add_argument("--no-stain", action="store_true")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    at = sorted(int(v) for v in args.estimate_at.split(","))
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    rig_cfg = load_rig(None)
    scan = load_scan(None)
    scan = scan.replace(
        target={"wbc": args.target, "max_area_mm2": args.max_area},
        analysis={**scan.analysis.model_dump(), "enabled": True, "device": args.device},
        save_raw=False,
    )
    rig = build_rig(rig_cfg)
    print(f"load average at the start: {os.getloadavg()}")
    t0 = time.perf_counter()
    estimates: list[tuple[int, TargetEstimate | None]] = []
    first_tile: list[float] = []
    last_tile: list[float] = [0.0]
    last_analysed: list[float] = [0.0]
    done: list[int] = []
    lock = threading.Lock()
    try:
        engine = ScanEngine(rig, scan, out)
        engine.check()
        reach = list(engine.plan.tiles) if engine.plan is not None else []
        session = session_for_scan(
            scan, out, reach, pixel_size_um=rig.pixel_size_um, stain=not args.no_stain
        )
        engine.user_sinks.append(session)
        engine.user_sinks.append(StageMosaicSink())  # after the analysis, as prepare_scan wires it
        watch = TargetWatch(args.target, len(reach), lambda: _disk_bytes(out))

        def follow(now: float) -> None:
            """The watch updated as the CLI updates it; the projection kept at each count."""
            diff = session.differential()
            if diff is None or not first_tile:
                return
            with lock:
                est = watch.update(diff.healthy, diff.tiles_analysed, len(done), now)
                if est is not None:
                    print(f"[{now - first_tile[0]:6.0f} s] estimate: {est.text()}")
                while at and diff.tiles_analysed >= at[0]:
                    n = at.pop(0)
                    estimates.append((n, watch.latest))
                    latest = watch.latest.text() if watch.latest else "-"
                    print(f"after {n} tiles analysed (load {os.getloadavg()[0]:.1f}): {latest}")

        def on_tile(_tile: object) -> None:
            now = time.perf_counter()
            if not first_tile:
                first_tile.append(now)
            done.append(1)
            last_tile[0] = now
            follow(now)

        def on_analysed(_result: object) -> None:
            now = time.perf_counter()
            last_analysed[0] = now
            follow(now)

        engine.events.tile_acquired.connect(on_tile)
        session.worker.tile_analysed.connect(on_analysed)
        summary = engine.run()
    finally:
        rig.close()
    end = time.perf_counter()
    print(f"load average at the end: {os.getloadavg()}")
    wall = end - t0
    ev = evaluate_scan_folder(str(out))
    diff = session.summary["differential"] if session.summary else None
    reached = (diff or {}).get("stop_reached_after_tiles")
    first = first_tile[0] if first_tile else t0
    tiles_s, count_s, end_s = last_tile[0] - first, last_analysed[0] - first, end - first
    print(
        f"\n{summary.status}: {summary.tiles_done} tiles taken ({reached} analysed when "
        f"{args.target} were reached), {summary.tiles_done * engine.rings.tile_area_mm2:.2f} "
        f"mm2; wall {wall:.0f} s; from the first tile: last tile taken {tiles_s:.0f} s, "
        f"last analysed {count_s:.0f} s, run ended {end_s:.0f} s; "
        f"disk {_disk_bytes(out) / 1e9:.2f} GB"
    )
    for n, est in estimates:
        if est is None:
            continue
        print(
            f"estimate after {n} tiles: {est.tiles} tiles, {est.total_s:.0f} s, "
            f"{est.disk_bytes / 1e9:.2f} GB; real {summary.tiles_done} tiles, {count_s:.0f} s "
            f"to the last tile analysed: tiles off by "
            f"{100 * (est.tiles / max(summary.tiles_done, 1) - 1):+.0f} %, time off by "
            f"{100 * (est.total_s / max(count_s, 1e-9) - 1):+.0f} % "
            f"({100 * (est.total_s / max(end_s, 1e-9) - 1):+.0f} % against the run's end)"
        )
    report(
        {
            "donor": rig_cfg.sim.donor,
            "tilt": rig_cfg.sim.tilt_um_per_mm,
            "summary": summary,
            "eval": ev,
            "wall_s": wall,
            "diff": diff,
        }
    )


if __name__ == "__main__":
    main()
