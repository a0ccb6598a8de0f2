"""The simulated whole smear's red-cell and platelet truth per donor, and what it costs.

For each donor: the RBCs and platelets whose centre lies in a square at the smear centre
(``VirtualSlide.rbcs_in_box`` / ``platelets_in_box``), their indices (MCH, equivalent diameter
and its CV, the share of each morphology class, overlapped share, platelets per 1,000 RBCs,
clumps), the CPU time to generate that truth on a fresh slide, and the CPU time to rasterise
512 x 512 truth tiles there. These are the figures the red-cell analysis is scored against.

Usage: python benchmarks/bench_sim_smear.py [--side-mm 1.0] [--seed 1] [--donors a,b]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.classes import RBC_CLASSES  # noqa: E402
from uvscope.config import CameraConfig, SimConfig  # noqa: E402
from uvscope.sim.donors import donor_names  # noqa: E402
from uvscope.sim.world import SimWorld  # noqa: E402


def _donor_row(name: str, seed: int, side_um: float) -> str:
    world = SimWorld(SimConfig(seed=seed, donor=name), CameraConfig())
    x, y = (v * 1e3 for v in world.smear_centre_mm())
    box = (x, y, x + side_um, y + side_um)
    t0 = time.process_time()
    rbcs = world.slide.rbcs_in_box(*box)
    plts = world.slide.platelets_in_box(*box)
    truth_s = time.process_time() - t0
    ps = world.pixel_size_um
    n_tile = world.slide.layout.tile_px
    ti, tj = int(y / ps) // n_tile, int(x / ps) // n_tile
    t0 = time.process_time()
    for k in range(4):
        world.slide.tile(ps, ti, tj + k)
    raster_ms = (time.process_time() - t0) / 4 * 1e3
    n = len(rbcs)
    d = np.array([r.diameter_um for r in rbcs])
    counts = Counter(r.morph for r in rbcs)
    shares = " ".join(f"{k[:5]} {100 * counts[k] / n:.1f}" for k in RBC_CLASSES[1:] if counts[k])
    clumps = len({p.clump_id for p in plts if p.clump_id >= 0})
    mm2 = (side_um / 1e3) ** 2
    return (
        f"| {name} | {n} | {np.mean([r.hb_pg for r in rbcs]):.1f} | {d.mean():.2f} "
        f"({100 * d.std() / d.mean():.0f} %) | {shares or '-'} | "
        f"{100 * np.mean([r.overlapped for r in rbcs]):.0f} % | {1e3 * len(plts) / n:.1f} | "
        f"{clumps} | {truth_s / mm2:.2f} | {raster_ms:.0f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side-mm", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--donors", default=",".join([*donor_names(), "random-1", "random-2"]))
    args = ap.parse_args()
    print(
        "| donor | RBCs | MCH pg | eq. diameter um (CV) | classes % | overlapped | "
        "platelets / 1,000 RBC | clumps | truth CPU s/mm^2 | raster CPU ms/tile |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.donors.split(","):
        print(_donor_row(name.strip(), args.seed, args.side_mm * 1e3), flush=True)


if __name__ == "__main__":
    main()
