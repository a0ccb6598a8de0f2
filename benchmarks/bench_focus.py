"""Focus on the simulated tilted, bowed slide: autofocus error and scans with and without a map.

Prints (1) the autofocus error as a fraction of the depth of field (~1.4 um) for each focus
metric, from random starts up to 10 um away, and (2) the focus error along a long strip scanned
with a fixed focus and with a focus map (and with the map over a slide with an unmapped 2 um
step, which the per-tile focus check must catch), on the real simulated world (SimWorld) at a small
camera size (256 x 192 px, 0.16 um pixels) on a virtual clock.

    PYTHONPATH=. python benchmarks/bench_focus.py [--strip-mm 6] [--points 12]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from uvscope.acquisition.autofocus import DEPTH_OF_FIELD_UM, METRICS, Autofocus, SweepSettings
from uvscope.acquisition.background import acquire_backgrounds, acquire_darks
from uvscope.acquisition.engine import ScanEngine
from uvscope.config import CameraConfig, FocusPlanConfig, RegionConfig, RigConfig, ScanConfig
from uvscope.io.stage_sink import StageMosaicSink
from uvscope.sim.devices import build_sim_rig

DOF = DEPTH_OF_FIELD_UM


def small_rig():
    cfg = RigConfig(camera=CameraConfig(width_px=256, height_px=192, pixel_size_um=0.16))
    return build_sim_rig(cfg)


def autofocus_errors(n_points: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    rig = small_rig()
    world = rig.world
    cx, cy = world.smear_centre_mm()
    print(
        f"autofocus on SimWorld, {n_points} positions within 8 mm of the smear centre, "
        "start 3-10 um off focus (260 nm, background-normalised; coarse 40 um / 11 steps, "
        "fine 6 um / 9 steps)"
    )
    positions = [(cx + rng.uniform(-8, 8), cy + rng.uniform(-8, 8)) for _ in range(n_points)]
    darks = acquire_darks(rig, {260: 50.0}, 4)
    bgs = acquire_backgrounds(
        rig, {260: 50.0}, 4, world.blank_position_mm(), rig.focus.position_um(), darks
    )
    offsets = rng.uniform(3, 10, n_points) * rng.choice([-1, 1], n_points)
    for metric in sorted(METRICS):
        af = Autofocus(
            rig,
            SweepSettings(metric=metric),
            260,
            50.0,
            normalise=lambda raw: bgs.normalise(260, raw),
        )
        errs, missed = [], 0
        for (x, y), off in zip(positions, offsets, strict=True):
            truth = world.best_focus_um(x, y, 260)
            rig.focus.move_to_um(truth + off)
            res = af.run(x, y)
            if not res.found:
                missed += 1
                continue
            errs.append(abs(res.z_um - truth) / DOF)
        e = np.array(errs)
        print(
            f"  {metric:20s} |error|/DOF mean {e.mean():.3f}  median {np.median(e):.3f}  "
            f"max {e.max():.3f}  (no peak at {missed} of {n_points}; "
            f"{af.frames / n_points:.0f} frames per autofocus)"
        )


def add_bump(world, x0_mm: float, x1_mm: float, height_um: float) -> None:
    """A step in the slide surface the focus map cannot know about (a crease, debris)."""
    flat = world.surface_z_um

    def bumped(x_mm: float, y_mm: float) -> float:
        return flat(x_mm, y_mm) + (height_um if x0_mm < x_mm < x1_mm else 0.0)

    world.surface_z_um = bumped


def strip_scan(
    mode: str, strip_mm: float, out: Path, surface: str = "quadratic", bump_um: float = 0.0
):
    rig = small_rig()
    world = rig.world
    cx, cy = world.smear_centre_mm()
    if bump_um:
        add_bump(world, cx + 0.5, cx + 0.8, bump_um)
    scan = ScanConfig(
        name=f"strip-{mode}",
        region=RegionConfig(center_mm=(cx, cy), size_mm=(strip_mm, 0.03)),
        focus=FocusPlanConfig(mode=mode, map_points=7, surface=surface),
        background={"frames": 2, "dark_frames": 2},
        save_raw=False,
    )
    t0, dev0 = time.monotonic(), rig.clock.now()
    eng = ScanEngine(rig, scan, out, sinks=[StageMosaicSink()])
    summary = eng.run()
    wall = time.monotonic() - t0
    setup_s = rig.clock.now() - dev0 - summary.device_time_s  # backgrounds, map points
    recs = [json.loads(line) for line in (out / "tiles.jsonl").read_text().splitlines()]
    err = np.array([abs(r["z_um"] - world.best_focus_um(r["x_mm"], r["y_mm"], 260)) for r in recs])
    score = np.array([r["extra"]["focus_score"] for r in recs])
    manifest = json.loads((out / "manifest.json").read_text())
    fmap = manifest["focus"].get("map", {})
    label = f"{mode}+bump" if bump_um else mode
    return dict(
        mode=label,
        tiles=len(recs),
        err=err,
        score=score,
        wall=wall,
        device_s=summary.device_time_s,
        setup_s=setup_s,
        map=fmap,
        refocused=manifest["focus"]["refocused_tiles"],
        probed=manifest["focus"].get("probed_tiles", 0),
        flagged=sum(bool(r["extra"].get("out_of_focus")) for r in recs),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--strip-mm", type=float, default=6.0)
    ap.add_argument("--points", type=int, default=12)
    args = ap.parse_args()
    autofocus_errors(args.points)
    print(f"\nstrip scan {args.strip_mm} mm long through the smear centre, 256 x 192 px tiles:")
    with tempfile.TemporaryDirectory() as tmp:
        results = [strip_scan(m, args.strip_mm, Path(tmp) / m) for m in ("fixed", "map")]
        bump = 1.5 * DOF
        results.append(strip_scan("map", args.strip_mm, Path(tmp) / "bump", bump_um=bump))
    print(
        f"  (map+bump: the map scan again with a {bump:.1f} um step in the slide over 0.3 mm "
        "that the map does not know about)"
    )
    best = max(np.median(r["score"]) for r in results)
    for r in results:
        e = r["err"] / DOF
        line = (
            f"  {r['mode']:8s} {r['tiles']} tiles: |z error|/DOF mean {e.mean():.3f} "
            f"max {e.max():.3f}; within DOF/2: {np.mean(e <= 0.5) * 100:.0f}%; "
            f"median sharpness {np.median(r['score']) / best:.2f} of the best; "
            f"worst {r['score'].min() / best:.2f}; device time {r['device_s']:.0f} s "
            f"(+ {r['setup_s']:.0f} s before the tiles), wall {r['wall']:.1f} s"
        )
        if r["map"]:
            line += (
                f"\n         map: {r['map']['surface']} through "
                f"{len(r['map']['points'])} points, residual rms "
                f"{r['map']['rms_residual_um']:.3f} um (max {r['map']['max_residual_um']:.3f}"
                f" um); probed {r['probed']}, swept {r['refocused']}, flagged out of focus "
                f"{r['flagged']}"
            )
        print(line)


if __name__ == "__main__":
    main()
