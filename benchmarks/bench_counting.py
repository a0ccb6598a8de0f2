"""Counting accuracy of the full pipeline against simulator ground truth on held-out donors.

    PYTHONPATH=. python benchmarks/bench_counting.py [--donors random-7,random-8] [--fields 12]
        [--grid 0x0] [--size 1040x1392] [--models default] [--config thresholds.toml]
        [--dead-fraction 0.4] [--verbose]

For each donor: ``--fields`` WBC-centred single tiles (many cells per CPU second) and, with
``--grid RxC``, one overlapping scan grid at the smear centre (cells counted once across
overlaps). Prints detection recall/precision, splits/merges, the confusion of matched cells and
the differential error in percentage points, per donor and pooled. Never asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.analysis.evaluate import (  # noqa: E402
    TRAINING_DONORS,
    VALIDATION_DONORS,
    SimCamera,
    merge,
    scan_grid,
    wbc_fields,
)
from uvscope.analysis.models import load_models  # noqa: E402
from uvscope.analysis.pipeline import TilePipeline  # noqa: E402
from uvscope.analysis.settings import load_settings  # noqa: E402


def _pair(s: str) -> tuple[int, int]:
    a, b = s.lower().split("x")
    return int(a), int(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--donors", default="random-7,random-8,random-9")
    ap.add_argument("--fields", type=int, default=12, help="WBC-centred tiles per donor")
    ap.add_argument("--grid", default="0x0", help="rows x cols of an overlapping scan per donor")
    ap.add_argument("--size", default="1040x1392", help="tile height x width (camera pixels)")
    ap.add_argument("--models", default="default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--config", default=None, help="analysis settings TOML")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--dead-fraction", type=float, default=None,
        help="put this fraction of the fields on dead cells (donors have only 1-10 %%)",
    )  # fmt: skip
    ap.add_argument("--verbose", action="store_true", help="list misses and false positives")
    args = ap.parse_args()

    donors = [d for d in args.donors.split(",") if d]
    seen = [d for d in donors if d in TRAINING_DONORS + VALIDATION_DONORS]
    if seen:
        print(f"# note: {seen} were used to train/validate the shipped networks (not held out)")
    models = load_models(args.models, None, args.models, device=args.device)
    settings = load_settings(args.config)
    pipe = TilePipeline(models, settings)
    shape = _pair(args.size)
    rows, cols = _pair(args.grid)
    evals = []
    t0 = time.perf_counter()
    for k, donor in enumerate(donors):
        seed = int(donor.split("-")[1]) if donor.startswith("random-") else 100 + k
        cam = SimCamera(donor, seed, shape)
        parts = []
        if args.fields:
            parts.append(
                wbc_fields(pipe, cam, args.fields, args.seed + k, dead_fraction=args.dead_fraction)
            )
        if rows and cols:
            parts.append(scan_grid(pipe, cam, rows, cols))
        ev = merge(parts)
        evals.append(ev)
        print(f"== donor {donor} (seed {seed}), {args.fields} fields, grid {rows}x{cols}")
        print(ev.summary())
        if args.verbose:
            for t in ev.missed:
                print(f"   missed {t.kind} at ({t.x_um:.1f}, {t.y_um:.1f}) d={t.diameter_um:.1f}")
            for c in ev.false_pos:
                print(
                    f"   false positive {c.cell_class} at ({c.x_um:.1f}, {c.y_um:.1f}) "
                    f"area {c.cell_area_um2:.0f} um2 nucleus {c.nucleus_area_um2:.0f} "
                    f"mean260 {c.mean_260:.2f} euler {c.euler_number} p_dead {c.p_dead:.2f}"
                )
    print(f"== pooled over {len(donors)} donors ({time.perf_counter() - t0:.0f} s)")
    print(merge(evals).summary())


if __name__ == "__main__":
    main()
