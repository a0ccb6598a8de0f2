"""Count N WBCs at real size: a target-count scan on the default simulated slide, its
estimate from the first tiles against the time it really took, scored against the truth.

    PYTHONPATH=. python benchmarks/bench_count_n.py [--target 200] [--max-area 30]
        [--estimate-at 20,40,80] [--out /tmp/bench-count-n] [--no-stain] [--device auto]

The embedded default scan file with ``[target] wbc = --target`` (start: the smear centre, the
default region's centre) on the built-in simulated rig (healthy donor, default seed and tilt,
virtual clock), the analysis streaming beside it as `uvscope scan --target-wbc` runs it. At
each tile count in ``--estimate-at`` (analysed tiles) the target estimate
(``uvscope.acquisition.target_estimate``) is taken from the counts, seconds and bytes so far;
at the end each is set against the tiles and the seconds from the first tile to the last.
Then the differential is scored against the truth (``bench_differential.report``). Prints;
never asserts.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_differential import report  # noqa: E402

from uvscope.acquisition.engine import ScanEngine  # noqa: E402
from uvscope.acquisition.target_estimate import TargetEstimate, estimate_target  # noqa: E402
from uvscope.analysis.evaluate import evaluate_scan_folder  # noqa: E402
from uvscope.analysis.session import session_for_scan  # noqa: E402
from uvscope.config import load_rig, load_scan  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, default=200)
    ap.add_argument("--max-area", type=float, default=30.0)
    ap.add_argument("--estimate-at", default="20,40,80")
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
    t0 = time.perf_counter()
    estimates: list[tuple[int, TargetEstimate | None]] = []
    first_tile: list[float] = []
    last_tile: list[float] = [0.0]
    done: list[int] = []
    try:
        engine = ScanEngine(rig, scan, out)
        engine.check()
        reach = list(engine.plan.tiles) if engine.plan is not None else None
        session = session_for_scan(
            scan, out, reach, pixel_size_um=rig.pixel_size_um, stain=not args.no_stain
        )
        engine.user_sinks.append(session)

        def on_tile(_tile: object) -> None:
            now = time.perf_counter()
            if not first_tile:
                first_tile.append(now)
            done.append(1)
            last_tile[0] = now
            diff = session.differential()
            if diff is None or not at or diff.tiles_analysed < at[0]:
                return
            at.pop(0)
            est = estimate_target(
                args.target,
                diff.healthy,
                diff.tiles_analysed,
                len(done),
                now - first_tile[0],  # seconds since the first tile
                _disk_bytes(out),
                len(reach or []),
            )
            estimates.append((diff.tiles_analysed, est))
            print(f"after {diff.tiles_analysed} tiles analysed: {est.text() if est else '-'}")

        engine.events.tile_acquired.connect(on_tile)
        summary = engine.run()
    finally:
        rig.close()
    wall = time.perf_counter() - t0
    ev = evaluate_scan_folder(str(out))
    diff = session.summary["differential"] if session.summary else None
    reached = (diff or {}).get("stop_reached_after_tiles")
    tiles_s = last_tile[0] - first_tile[0] if first_tile else 0.0
    print(
        f"\n{summary.status}: {summary.tiles_done} tiles taken ({reached} analysed when "
        f"{args.target} were reached), {summary.tiles_done * engine.rings.tile_area_mm2:.2f} "
        f"mm2; wall {wall:.0f} s, first tile to last {tiles_s:.0f} s; "
        f"disk {_disk_bytes(out) / 1e9:.2f} GB"
    )
    for n, est in estimates:
        if est is None:
            continue
        print(
            f"estimate after {n} tiles: {est.tiles} tiles, {est.total_s:.0f} s, "
            f"{est.disk_bytes / 1e9:.2f} GB; real {summary.tiles_done} tiles, {tiles_s:.0f} s: "
            f"time off by {100 * (est.total_s / max(tiles_s, 1e-9) - 1):+.0f} %"
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
