"""A target-count scan's focus at real size: the growing focus map against the simulator's truth.

    PYTHONPATH=. python benchmarks/bench_grow_focus.py [--target 200] [--max-area 30]
        [--tilt 1.5 -0.8] [--curvature 0.02] [--out /tmp/bench-grow-focus]

The embedded default scan file with ``[target] wbc = --target`` on the built-in simulated rig
(healthy donor, default seed, the slide tilted and bowed as given), no analysis attached: the
stop rule is the simulator's own count of healthy WBCs in the tiles' cores (each once across the
overlaps, ``tests.acquisition.test_grow.TruthCounter``), so the scan runs at the acquisition's
pace on the virtual clock and ends where a perfect analysis would. Prints the map points
measured before the first tile and in all, the preparation's device time (the virtual
clock, darks to the first tile) and every tile's distance from the best focus (the truth),
and what the points measured before the first tile alone would have given the tiles. Runs
on any version of uvscope (compare a tree before the growing map; ``--until-first-tile``
measures the preparation only). Prints; never asserts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.acquisition.test_grow import TruthCounter  # noqa: E402
from uvscope.acquisition.autofocus import DEPTH_OF_FIELD_UM  # noqa: E402
from uvscope.acquisition.engine import ScanEngine  # noqa: E402
from uvscope.acquisition.focus_map import FocusMap, FocusPoint  # noqa: E402
from uvscope.config import load_rig, load_scan  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.io.scanfolder import ScanFolder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, default=200)
    ap.add_argument("--max-area", type=float, default=30.0)
    ap.add_argument("--tilt", type=float, nargs=2, default=None)
    ap.add_argument("--curvature", type=float, default=None)
    ap.add_argument("--out", default="/tmp/bench-grow-focus")
    ap.add_argument(
        "--until-first-tile",
        action="store_true",
        help="interrupt at the first tile (the preparation's cost only)",
    )
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    rig_cfg = load_rig(None)
    sim = rig_cfg.sim.model_dump()
    if args.tilt is not None:
        sim["tilt_um_per_mm"] = tuple(args.tilt)
    if args.curvature is not None:
        sim["curvature_um_per_mm2"] = args.curvature
    rig_cfg = rig_cfg.replace(sim=sim)
    scan = load_scan(None)
    scan = scan.replace(
        target={"wbc": args.target, "max_area_mm2": args.max_area},
        # the config asks for the analysis (a target needs it); none is attached: the
        # simulator's truth counts instead
        analysis={**scan.analysis.model_dump(), "enabled": True},
        save_raw=False,
    )
    rig = build_rig(rig_cfg)
    t0, device_t0 = time.perf_counter(), rig.clock.now()
    first: list[tuple[float, float, int]] = []  # wall, device time, map points at tile 1
    try:
        engine = ScanEngine(rig, scan, out)
        engine.check()
        cam = rig.camera
        shape = (cam.height_px, cam.width_px)
        counter = TruthCounter(rig.world, engine.plan.tiles, shape, rig.pixel_size_um, args.target)
        engine.user_sinks.append(counter)

        def on_tile(_tile: object) -> None:
            if not first:
                source = getattr(engine.rig_engine.focus, "source", None)
                n = len(getattr(source, "points", []))
                first.append((time.perf_counter() - t0, rig.clock.now() - device_t0, n))
                if args.until_first_tile:
                    engine.interrupt("the preparation measured")

        engine.events.tile_acquired.connect(on_tile)
        summary = engine.run()
    finally:
        rig.close()
    wall = time.perf_counter() - t0
    world = rig.world
    folder = ScanFolder.open(out)
    records = list(folder.verified_tiles().values())
    focus = folder.read_manifest()["focus"]
    points = [FocusPoint(*p) for p in focus["map"]["points"]]
    off = [abs(r.z_um - world.best_focus_um(r.x_mm, r.y_mm)) for r in records]
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    grown = [e["message"] for e in events if e["message"].startswith("map grown")]
    print(
        f"{summary.status}: {summary.tiles_done} tiles, truth count {counter.counted[-1]} "
        f"healthy WBCs; wall {wall:.0f} s, device time {summary.device_time_s:.0f} s (tiles)"
    )
    if first:
        print(
            f"first tile after {first[0][0]:.0f} s wall, {first[0][1]:.1f} s device time "
            f"(darks, background, {first[0][2]} map points)"
        )
    print(f"map: {len(points)} points in all, box {focus.get('lattice_box')}; grown {len(grown)}x")
    for text in grown:
        print(f"  {text}")
    beyond = sum(o > DEPTH_OF_FIELD_UM / 2 for o in off)
    print(
        f"focus against the truth: max {max(off):.3f} um, {beyond}"
        f" of {len(off)} tiles beyond DOF/2 = {DEPTH_OF_FIELD_UM / 2:.2f} um; "
        f"re-focused {focus.get('refocused_tiles')}, flagged {focus.get('out_of_focus_tiles')}"
    )
    if first and 3 <= first[0][2] < len(points):
        alone = FocusMap.fit(points[: first[0][2]], focus["map"]["requested_surface"])
        off1 = [
            abs(alone.z_at(r.x_mm, r.y_mm) - world.best_focus_um(r.x_mm, r.y_mm)) for r in records
        ]
        print(
            f"the first {first[0][2]} points alone: max {max(off1):.3f} um, "
            f"{sum(o > DEPTH_OF_FIELD_UM / 2 for o in off1)} tiles beyond DOF/2"
        )


if __name__ == "__main__":
    main()
