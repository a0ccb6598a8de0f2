"""Red-cell morphology: the trained network against the rule set, on held-out simulated donors.

    PYTHONPATH=. python benchmarks/bench_rbc_morph.py [--weights default] [--tiles 3]
        [--seed 341] [--donors healthy,sickle,...]

Per donor: ``--tiles`` full-size tiles (1040 x 1392) of a slide seed no training export used,
each analysed twice by ``SmearAnalyser`` (same tile, same pieces), once with the rule set and
once with the network. Scored against the simulator's truth (``evaluate_cbc.score``): per-cell
accuracy over the whole cells matched to a whole true cell, and each class's share among the
classified cells against its share among the true whole cells of the same area (percentage
points). Time: the seconds the morphology step takes per tile and the whole red-cell and
platelet step, for both. Never asserts; prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.tiles import TileSpec  # noqa: E402
from uvscope.analysis.evaluate import SimCamera  # noqa: E402
from uvscope.analysis.evaluate_cbc import score, truth_in_box  # noqa: E402
from uvscope.analysis.rbc_classify import NetworkMorphology, rule_morphology  # noqa: E402
from uvscope.analysis.smear import SmearAnalyser  # noqa: E402
from uvscope.classes import RBC_CLASSES  # noqa: E402

DONORS = "healthy,sickle,ttp-like,spherocytosis,elliptocytosis,thalassaemia-like"


class Timed:
    """A morphology function that adds up its own seconds."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args: Any) -> np.ndarray:
        t0 = time.perf_counter()
        out: np.ndarray = self.fn(*args)
        self.seconds += time.perf_counter() - t0
        return out


def run_donor(donor: str, seed: int, tiles: int, net: Any) -> dict[str, Any]:
    cam = SimCamera(donor, seed)
    x0, y0 = cam.world.smear_centre_mm()
    step = cam.shape[1] * cam.px * 1.05e-3
    hx, hy = cam.half_um()
    methods = {"rules": Timed(rule_morphology), "network": Timed(net)}
    analysers = {k: SmearAnalyser(morphology=fn) for k, fn in methods.items()}
    recs: dict[str, list[Any]] = {k: [] for k in methods}
    seconds = dict.fromkeys(methods, 0.0)
    truth: list[Any] = []
    cells = 0
    for t in range(tiles):
        spec = TileSpec(t, 0, t, x0 + (t - tiles // 2) * step, y0)
        tile = cam.tile(spec)
        wbc = cam.world.ground_truth(spec.x_mm, spec.y_mm).cell_labels
        for k, an in analysers.items():
            t0 = time.perf_counter()
            res = an.analyse(tile, wbc, None)
            seconds[k] += time.perf_counter() - t0
            recs[k] += res.counted_rbcs
        cells += len(res.counted_rbcs)
        cx, cy = spec.x_mm * 1e3, spec.y_mm * 1e3
        truth += truth_in_box(cam.world, (cx - hx, cy - hy, cx + hx, cy + hy))[0]
    out: dict[str, Any] = {"donor": donor, "tiles": tiles, "cells_per_tile": cells / tiles}
    for k in methods:
        sc = score(recs[k], truth, [], [])
        n_match = sum(sc.confusion.values())
        right = sum(v for (a, b), v in sc.confusion.items() if a == b)
        classified = [r.morph for r in recs[k] if r.morph]
        share_err = {}
        for c in RBC_CLASSES:
            measured = 100.0 * classified.count(c) / max(len(classified), 1)
            share_err[c] = measured - sc.true_share(c, whole=True)
        out[k] = {
            "accuracy": right / max(n_match, 1),
            "matched": n_match,
            "share_error_pt": share_err,
            "worst_pt": max(share_err.values(), key=abs),
            "morph_s_per_tile": methods[k].seconds / tiles,
            "smear_s_per_tile": seconds[k] / tiles,
            "confusion": sc.confusion,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="default")
    ap.add_argument("--tiles", type=int, default=3)
    ap.add_argument("--seed", type=int, default=341)
    ap.add_argument("--donors", default=DONORS)
    a = ap.parse_args()
    net = NetworkMorphology(a.weights)
    print(f"network {net.path} classes {list(net.cfg.classes)}; held-out seed {a.seed}")
    head = (
        f"{'donor':18s} {'cells/tile':>10s} | {'acc rules':>9s} {'acc net':>8s} | "
        f"{'worst share pt rules':>20s} {'net':>6s} | {'morph s/tile rules':>18s} {'net':>6s}"
        f" | {'smear s/tile rules':>18s} {'net':>6s}"
    )
    print(head)
    rows = []
    for donor in a.donors.split(","):
        r = run_donor(donor, a.seed, a.tiles, net)
        rows.append(r)
        ru, nn = r["rules"], r["network"]
        print(
            f"{donor:18s} {r['cells_per_tile']:10.0f} | {ru['accuracy']:9.3f} "
            f"{nn['accuracy']:8.3f} | {ru['worst_pt']:+20.2f} {nn['worst_pt']:+6.2f} | "
            f"{ru['morph_s_per_tile']:18.4f} {nn['morph_s_per_tile']:6.4f} | "
            f"{ru['smear_s_per_tile']:18.3f} {nn['smear_s_per_tile']:6.3f}",
            flush=True,
        )
        for k in ("rules", "network"):
            errs = ", ".join(f"{c} {v:+.2f}" for c, v in r[k]["share_error_pt"].items())
            wrong = {f"{t}->{m}": v for (t, m), v in r[k]["confusion"].items() if t != m}
            print(f"    {k:8s} share error (pt): {errs}; {r[k]['matched']} matched; wrong {wrong}")
    for k in ("rules", "network"):
        acc = np.mean([r[k]["accuracy"] for r in rows])
        worst = max(abs(r[k]["worst_pt"]) for r in rows)
        mae = np.mean([abs(v) for r in rows for v in r[k]["share_error_pt"].values()])
        print(
            f"{k:8s}: mean per-cell accuracy {acc:.4f}; worst share error {worst:.2f} pt; "
            f"mean |share error| {mae:.2f} pt"
        )


if __name__ == "__main__":
    main()
