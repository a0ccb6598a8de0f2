"""Platelet clumps against red cells, on simulated tiles whose truth is known.

A clump reaches further than a single platelet, so fewer places leave it clear of the red
cells: each one seen is weighed by the share of the tile where one of its reach would be seen.
A donor whose platelets clump (60 % of placements, so most platelets lie in clumps) checks it
against the truth.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest

from uvscope.analysis.cbc import CbcAccumulator
from uvscope.analysis.evaluate import SimCamera
from uvscope.analysis.smear import SmearTile
from uvscope.sim import donors

from .smear_grid import SHAPE, analyse_grid, grid


@cache
def clumping_scan() -> tuple[list[SmearTile], list, list]:
    """A 4 x 4 overlapping grid of a healthy donor whose platelets clump, with the truth."""
    clumping = dataclasses.replace(donors._healthy(), name="clumping", platelet_clump_prob=0.6)
    mp = pytest.MonkeyPatch()
    mp.setitem(donors.DONORS, "clumping", lambda: clumping)
    try:
        cam = SimCamera("clumping", 23, shape=SHAPE)
    finally:
        mp.undo()
    tiles, rbcs, plts, _ = analyse_grid(cam, grid(cam, 4, 4))
    return tiles, rbcs, plts


def test_platelets_in_clumps_are_estimated_against_the_truth() -> None:
    tiles, rbcs, plts = clumping_scan()
    acc = CbcAccumulator()
    for t in tiles:
        acc.add(t)
    doc = acc.document(None, None)
    per = doc["platelets"]["per_1000_rbc"]
    true_per = 1000.0 * len(plts) / len(rbcs)
    clumped_share = np.mean([p.clump_id >= 0 for p in plts])
    assert clumped_share > 0.6  # most platelets lie in clumps
    # clumps seen weigh more than single platelets: a clump reaches further
    weights = [t.platelet_visible_fraction / p.visible_share for t in tiles for p in t.platelets]
    assert max(weights) > 1.5 and min(weights) >= 1.0 - 1e-9, weights
    unweighted = per * acc.platelets / acc.platelets_weighted
    # 19 platelets seen: weighed by reach -44 %, as single platelets -61 % (clumps joined to a
    # red cell's mask or read as small red cells are not seen at all: not fixed)
    assert per / true_per - 1 > unweighted / true_per - 1 + 0.1, (per, unweighted, true_per)
    assert abs(per - true_per) < 0.5 * true_per, (per, true_per, acc.platelets)
