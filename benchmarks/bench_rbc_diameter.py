"""Why the red-cell diameter width (CV) reads narrower than the truth: selection or measurement.

    PYTHONPATH=. python benchmarks/bench_rbc_diameter.py [--donor iron-deficiency] [--tiles 6]

N full tiles of one donor (held-out slide seed of bench_cbc) are rendered and analysed by the
red-cell step alone (no white-cell masks), keeping the cells centred at least 10 um inside each
tile. Every whole (measured) record is matched to the nearest true cell within 2 um. Printed:

- the diameter CV of all true cells, of the true whole (not overlapped) cells, of the true
  cells behind the measured records, and of the measured records: the first steps are the
  selection (which cells are measured), the last the measurement itself;
- the share of true whole cells measured per band of true diameter, and why the others are not
  (no record within 2 um, or only an overlapped one);
- the slope of measured on true diameter and how the diameter error follows the cell's true
  haemoglobin density (pg/um^2): a fixed OD threshold on a blurred edge puts the outline of a
  dense cell further out than that of a pale one.

Never asserts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.tiles import TileSpec  # noqa: E402
from uvscope.analysis.evaluate import SimCamera  # noqa: E402
from uvscope.analysis.rbc import RbcRecord  # noqa: E402
from uvscope.analysis.smear import SmearAnalyser  # noqa: E402

SEEDS = {"healthy": 341, "sickle": 343, "iron-deficiency": 345, "macrocytic": 346}
INSET_UM = 10.0
MATCH_UM = 2.0


def _cv(d: np.ndarray) -> float:
    return float(100.0 * np.std(d) / np.mean(d))


def collect(donor: str, n: int) -> tuple[list[RbcRecord], list[Any]]:
    """Records and true cells of n tiles, both inside each tile by ``INSET_UM``."""
    cam = SimCamera(donor, SEEDS.get(donor, 341))
    cx, cy = cam.world.smear_centre_mm()
    hw, hh = cam.half_um()
    analyser = SmearAnalyser()
    recs: list[RbcRecord] = []
    truth: list[Any] = []
    for i in range(n):
        tile = cam.tile(TileSpec(i, 0, i, cx + 0.3 * (i % 4), cy + 0.3 * (i // 4)))
        x0, y0 = tile.x_mm * 1e3 - hw + INSET_UM, tile.y_mm * 1e3 - hh + INSET_UM
        x1, y1 = tile.x_mm * 1e3 + hw - INSET_UM, tile.y_mm * 1e3 + hh - INSET_UM
        truth += cam.world.slide.rbcs_in_box(x0, y0, x1, y1)
        st = analyser.analyse(tile, None, None)
        recs += [r for r in st.rbcs if x0 <= r.x_um <= x1 and y0 <= r.y_um <= y1]
    return recs, truth


def report(donor: str, recs: list[RbcRecord], truth: list[Any]) -> None:
    true_d = np.array([c.diameter_um for c in truth])
    whole = [k for k, c in enumerate(truth) if not c.overlapped]
    meas = [r for r in recs if r.measured]
    tree = cKDTree([(c.cx, c.cy) for c in truth])
    dist, idx = tree.query([(r.x_um, r.y_um) for r in meas])
    ok = dist < MATCH_UM
    got_d = np.array([r.equivalent_diameter_um for r in meas])[ok]
    their_d = true_d[idx[ok]]
    print(
        f"{donor}: {len(truth)} true cells, {len(meas)} measured records ({np.sum(~ok)} unmatched)"
    )
    print(
        f"  diameter CV %: true all {_cv(true_d):.1f}, true whole {_cv(true_d[whole]):.1f}, "
        f"true of the measured {_cv(their_d):.1f}, measured {_cv(got_d):.1f}"
    )
    measured = set(idx[ok].tolist())
    rec_dist, rec_idx = tree.query([(r.x_um, r.y_um) for r in recs])
    has_record = {int(k) for r, d, k in zip(recs, rec_dist, rec_idx, strict=True) if d < MATCH_UM}
    missed = [k for k in whole if k not in measured]
    no_rec = sum(k not in has_record for k in missed)
    print(
        f"  true whole cells not measured: {no_rec} without a record, "
        f"{len(missed) - no_rec} only in overlapped or saturated records"
    )
    edges = np.percentile(true_d[whole], [0, 10, 25, 50, 75, 90, 100])
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        band = [k for k in whole if lo <= true_d[k] <= hi]
        share = 100.0 * np.mean([k in measured for k in band]) if band else float("nan")
        print(f"    true d {lo:.2f}-{hi:.2f} um: {len(band)} whole, {share:.0f} % measured")
    err = got_d - their_d
    density = np.array([truth[k].hb_pg for k in idx[ok]]) / (np.pi * their_d**2 / 4.0)
    fit = np.linalg.lstsq(np.column_stack([np.ones_like(err), their_d, density]), err, rcond=None)
    print(
        f"  measured - true diameter {err.mean():+.2f} um; slope of measured on true "
        f"{np.polyfit(their_d, got_d, 1)[0]:.2f}; corr(error, true hb density) "
        f"{np.corrcoef(err, density)[0, 1]:+.2f}, corr(error, true d) "
        f"{np.corrcoef(err, their_d)[0, 1]:+.2f}; error = {fit[0][0]:+.2f} "
        f"{fit[0][1]:+.3f} x d_um {fit[0][2]:+.2f} x density_pg_um2"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--donor", default="iron-deficiency")
    ap.add_argument("--tiles", type=int, default=6)
    args = ap.parse_args()
    report(args.donor, *collect(args.donor, args.tiles))


if __name__ == "__main__":
    main()
