"""Fit the discriminant that tells a single platelet from debris (uvscope.analysis.platelets).

    PYTHONPATH=. python benchmarks/fit_platelet_rule.py [--tiles 16] [--seeds 51,52,53,55,56]

Renders full tiles of a healthy donor with ten times the usual platelet-sized debris (400 per
mm^2: the debris is drawn as on every donor, only more of it) on training slide seeds (never
the benchmark's held-out 341-349); seeds 55 and up also clump 60 % of platelet placements, so
clumps are seen. Every platelet candidate the analysis keeps (``SmearAnalyser._candidates``:
size and density range, centred where a platelet can be seen) is labelled from the
simulator's platelet map: a platelet (over 30 % of its pixels on one platelet), a clump (on
two or more) or debris (on none). Prints Fisher's linear discriminant of single platelets
against debris over ``FEATURES`` (weights and the threshold at the 4th percentile of the
platelets, to paste into platelets.py), then, seed by seed with that seed left out of the
fit, how many platelets, clumps and debris objects the shipped rule (``platelet_counts``)
and the refitted one keep.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.tiles import TileSpec  # noqa: E402
from uvscope.analysis import platelets as plt_rule  # noqa: E402
from uvscope.analysis.evaluate import SimCamera  # noqa: E402
from uvscope.analysis.platelets import Candidates  # noqa: E402
from uvscope.analysis.smear import SmearAnalyser  # noqa: E402
from uvscope.sim import donors  # noqa: E402

DEBRIS_PER_MM2 = 400.0
CLUMPED_FROM_SEED = 55


class _Recorder(SmearAnalyser):
    """The analysis, keeping every candidate's features and its truth."""

    def __init__(self) -> None:
        super().__init__()
        self.truth_map = np.zeros((1, 1), np.int32)
        self.rows: list[tuple[np.ndarray, float, int, float]] = []

    def _candidates(self, f, rest, hidden) -> Candidates | None:  # type: ignore[no-untyped-def]
        cand = super()._candidates(f, rest, hidden)
        if cand is None:
            return None
        for i, k in enumerate(cand.ids):
            sl = cand.slices[k - 1]
            mask = cand.labels[sl] == k
            ids = self.truth_map[sl][mask]
            on = ids[ids > 0]
            share = on.size / mask.sum()
            members = len(set(on.tolist()))
            self.rows.append((cand.features[i], float(cand.od_um2[i]), members, share))
        return cand


def collect(seed: int, tiles: int) -> list[tuple[np.ndarray, float, int, float]]:
    base = donors.get_donor("healthy")
    clump = 0.6 if seed >= CLUMPED_FROM_SEED else base.platelet_clump_prob
    profile = dataclasses.replace(
        base, name="fit-platelets", debris_per_mm2=DEBRIS_PER_MM2, platelet_clump_prob=clump
    )
    donors.DONORS["fit-platelets"] = lambda: profile
    cam = SimCamera("fit-platelets", seed)
    cx, cy = cam.world.smear_centre_mm()
    rec = _Recorder()
    for i in range(tiles):
        x, y = cx + 0.25 * (i % 4) - 0.4, cy + 0.25 * (i // 4) - 0.4
        truth = cam.world.ground_truth(x, y)
        t = truth.platelet_labels
        assert t is not None
        rec.truth_map = np.maximum(
            np.maximum(t[0::2, 0::2], t[1::2, 0::2]), np.maximum(t[0::2, 1::2], t[1::2, 1::2])
        )
        rec.analyse(cam.tile(TileSpec(i, 0, i, x, y)), truth.cell_labels, None)
    return rec.rows


def fisher(feats: np.ndarray, single: np.ndarray, debris: np.ndarray) -> tuple[np.ndarray, float]:
    a, b = feats[single], feats[debris]
    w = np.linalg.solve(np.cov(a.T) + np.cov(b.T), a.mean(0) - b.mean(0))
    return w, float(np.percentile(a @ w, 4))


def kept(counts: np.ndarray, single: np.ndarray, clump: np.ndarray, debris: np.ndarray) -> str:
    return (
        f"platelets {int((counts[single] > 0).sum())}/{int(single.sum())}, "
        f"clumps {int((counts[clump] > 0).sum())}/{int(clump.sum())}, "
        f"debris {int((counts[debris] > 0).sum())}/{int(debris.sum())}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--seeds", default="51,52,53,55,56")
    args = ap.parse_args()
    data = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        rows = collect(seed, args.tiles)
        feats = np.array([r[0] for r in rows])
        od = np.array([r[1] for r in rows])
        n = np.array([r[2] for r in rows])
        share = np.array([r[3] for r in rows])
        data[seed] = (feats, od, (share > 0.3) & (n == 1), (share > 0.3) & (n >= 2), share == 0)
        print(f"seed {seed}: {len(rows)} candidates", flush=True)

    def stack(seeds: list[int], i: int) -> np.ndarray:
        return np.concatenate([data[s][i] for s in seeds])

    seeds = list(data)
    w, thr = fisher(stack(seeds, 0), stack(seeds, 2), stack(seeds, 4))
    print(f"\nFEATURES = {plt_rule.FEATURES}")
    print(f"SINGLE_WEIGHTS = {tuple(round(float(v), 4) for v in w)}")
    print(f"SINGLE_THRESHOLD = {thr:.4f}\n")
    single_od = 0.28
    for s in seeds:
        feats, od, single, clump, debris = data[s]
        shipped = plt_rule.platelet_counts(feats, od, single_od)
        rest = [x for x in seeds if x != s]
        w_s, thr_s = fisher(stack(rest, 0), stack(rest, 2), stack(rest, 4))
        old = plt_rule.SINGLE_WEIGHTS, plt_rule.SINGLE_THRESHOLD
        plt_rule.SINGLE_WEIGHTS, plt_rule.SINGLE_THRESHOLD = tuple(w_s), thr_s
        refit = plt_rule.platelet_counts(feats, od, single_od)
        plt_rule.SINGLE_WEIGHTS, plt_rule.SINGLE_THRESHOLD = old
        print(f"seed {s}: shipped rule keeps {kept(shipped, single, clump, debris)}")
        print(f"        fitted without it: {kept(refit, single, clump, debris)}")


if __name__ == "__main__":
    main()
