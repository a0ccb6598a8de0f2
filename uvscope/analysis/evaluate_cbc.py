"""Red cells and platelets against the simulator's truth (benchmarks/bench_cbc.py, tests).

The truth of an acquired area is every RBC and platelet whose centre lies in it; measured
objects are matched to the nearest true centre, so each true object can be seen to be counted
at most once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from uvscope.analysis.platelets import PlateletRecord
from uvscope.analysis.rbc import RbcRecord

#: a measured red cell within this of a true centre is that cell
MATCH_UM = 2.0


def truth_in_box(
    world: Any, box_um: tuple[float, float, float, float]
) -> tuple[list[Any], list[Any]]:
    """(RBCs, platelets) of the simulated slide whose centres lie in the box (stage um)."""
    x0, y0, x1, y1 = box_um
    slide = world.slide
    return slide.rbcs_in_box(x0, y0, x1, y1), slide.platelets_in_box(x0, y0, x1, y1)


def true_morph(rbc: Any) -> str:
    """The morphology class of a simulated RBC."""
    return str(rbc.morph)


@dataclass
class CbcScore:
    """Measured against true figures over one area."""

    true_rbcs: int = 0
    true_platelets: int = 0
    measured_rbcs: int = 0
    true_mch_pg: float = float("nan")
    true_hb_cv_percent: float = float("nan")
    true_diameter_um: float = float("nan")
    true_diameter_cv_percent: float = float("nan")
    true_morph: Counter[str] = field(default_factory=Counter)
    #: the same over the cells no other overlaps (the only ones a shape can classify)
    true_morph_whole: Counter[str] = field(default_factory=Counter)
    #: true RBCs that counted records of two or more tiles matched (counted twice)
    double_counted: int = 0
    #: true RBCs that two counted records of one tile matched (split by the segmentation)
    splits: int = 0
    #: per matched whole cell: measured - true haemoglobin (pg)
    hb_errors: list[float] = field(default_factory=list)
    #: (true class, measured class) of matched whole cells
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    def true_share(self, name: str, whole: bool = False) -> float:
        c = self.true_morph_whole if whole else self.true_morph
        n = sum(c.values())
        return 100.0 * c[name] / n if n else float("nan")


def _cv(values: np.ndarray) -> float:
    return float(100.0 * values.std(ddof=1) / values.mean()) if values.size > 1 else float("nan")


def score(
    rbcs: list[RbcRecord],
    true_rbcs: list[Any],
    true_platelets: list[Any],
    plt: list[PlateletRecord],
) -> CbcScore:
    """Counted records against the truth of the same area."""
    s = CbcScore(true_rbcs=len(true_rbcs), true_platelets=len(true_platelets))
    s.measured_rbcs = len(rbcs)
    if true_rbcs:
        hb = np.array([r.hb_pg for r in true_rbcs])
        d = np.array([r.diameter_um for r in true_rbcs])
        s.true_mch_pg, s.true_hb_cv_percent = float(hb.mean()), _cv(hb)
        s.true_diameter_um, s.true_diameter_cv_percent = float(d.mean()), _cv(d)
        s.true_morph = Counter(true_morph(r) for r in true_rbcs)
        s.true_morph_whole = Counter(true_morph(r) for r in true_rbcs if not r.overlapped)
        tree = cKDTree([(r.cx, r.cy) for r in true_rbcs])
        hits: dict[int, list[int]] = {}
        for rec in rbcs:
            dist, j = tree.query((rec.x_um, rec.y_um))
            if dist > MATCH_UM:
                continue
            hits.setdefault(int(j), []).append(rec.tile)
            if rec.measured and np.isfinite(rec.hb_pg):
                s.hb_errors.append(rec.hb_pg - true_rbcs[j].hb_pg)
            if rec.morph:
                s.confusion[(true_morph(true_rbcs[j]), rec.morph)] += 1
        s.double_counted = sum(1 for v in hits.values() if len(set(v)) > 1)
        s.splits = sum(1 for v in hits.values() if len(v) > len(set(v)))
    return s
