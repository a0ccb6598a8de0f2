"""Red-cell indices, platelet and WBC estimates and their flags: what ``cbc.json`` holds.

``CbcAccumulator`` takes each tile's counted red cells and platelets as the scan goes (running
sums and fixed histograms: its memory does not grow with the tiles), and ``document`` turns
them into the indices with their intervals and the flags, each with the rule that raised it.

Platelets are counted where they can be seen (not under or against a red or white cell) and
scaled by the share of the smear where they can: ``SmearTile.platelet_visible_fraction``.
A clump reaches further than a single platelet, so fewer places leave it clear of the cells:
each object weighs the tile's share over its own (``PlateletRecord.visible_share``), the
Horvitz-Thompson estimate for objects placed independently of the cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from uvscope.analysis.differential import Differential, wilson_interval
from uvscope.analysis.flags import Flag, ordered
from uvscope.analysis.rbc_classify import morphology_method
from uvscope.analysis.settings import CbcSettings
from uvscope.analysis.smear import GalleryCrop, SmearTile
from uvscope.classes import RBC_CLASSES

#: histogram edges of the report and cbc.json
HB_EDGES_PG = np.arange(0.0, 60.5, 1.0)
DIAMETER_EDGES_UM = np.arange(2.0, 14.01, 0.25)


@dataclass
class Moments:
    """Count, mean and spread of a running quantity."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, values: np.ndarray) -> None:
        v = values[np.isfinite(values)]
        self.n += int(v.size)
        self.total += float(v.sum())
        self.squares += float((v * v).sum())

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

    @property
    def sd(self) -> float:
        if self.n < 2:
            return float("nan")
        var = (self.squares - self.total * self.total / self.n) / (self.n - 1)
        return math.sqrt(max(var, 0.0))

    def interval(self, confidence: float) -> tuple[float, float]:
        """Normal interval of the mean."""
        if self.n < 2:
            return (float("nan"), float("nan"))
        z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
        half = z * self.sd / math.sqrt(self.n)
        return (self.mean - half, self.mean + half)

    @property
    def cv_percent(self) -> float:
        return 100.0 * self.sd / self.mean if self.n >= 2 and self.mean > 0 else float("nan")


@dataclass
class CbcAccumulator:
    """Running red-cell and platelet figures of one analysis (fed tile by tile)."""

    settings: CbcSettings = field(default_factory=CbcSettings)
    tiles: int = 0
    rbcs: int = 0
    overlapped: int = 0
    saturated: int = 0
    hb: Moments = field(default_factory=Moments)
    #: every counted cell's share of haemoglobin (overlapping cells included): the MCH
    hb_all: Moments = field(default_factory=Moments)
    diameter: Moments = field(default_factory=Moments)
    hb_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(HB_EDGES_PG) - 1, np.int64))
    diameter_hist: np.ndarray = field(
        default_factory=lambda: np.zeros(len(DIAMETER_EDGES_UM) - 1, np.int64)
    )
    morph: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RBC_CLASSES, 0))
    #: sickle cells read in groups of touching or overlapping cells
    sickle_in_groups: int = 0
    platelet_objects: int = 0
    platelets: int = 0
    clumps: int = 0
    clumped_platelets: int = 0
    #: platelets seen, each object weighted by the tile's single-platelet visible share over
    #: its own (a clump, reaching further, is seen clear of the cells on less of the tile)
    platelets_weighted: float = 0.0
    visible_sum: float = 0.0
    hb_problems: dict[str, int] = field(default_factory=dict)
    gallery: list[GalleryCrop] = field(default_factory=list)
    hb_wavelength_nm: int | None = None

    def add(self, st: SmearTile) -> None:
        """One analysed tile's counted objects (an out-of-focus tile counts none)."""
        self.tiles += 1
        self.visible_sum += st.platelet_visible_fraction
        self.hb_wavelength_nm = st.hb_wavelength_nm
        if st.hb_problem:
            self.hb_problems[st.hb_problem] = self.hb_problems.get(st.hb_problem, 0) + 1
        rbcs = st.counted_rbcs
        self.rbcs += len(rbcs)
        self.overlapped += sum(r.overlapped for r in rbcs)
        self.saturated += sum(r.saturated for r in rbcs)
        whole = [r for r in rbcs if r.measured]
        hb = np.array([r.hb_pg for r in whole], np.float64)
        d = np.array([r.equivalent_diameter_um for r in whole], np.float64)
        self.hb.add(hb)
        self.hb_all.add(np.array([r.hb_share_pg for r in rbcs], np.float64))
        self.diameter.add(d)
        self.hb_hist += np.histogram(hb[np.isfinite(hb)], HB_EDGES_PG)[0]
        self.diameter_hist += np.histogram(d, DIAMETER_EDGES_UM)[0]
        for r in whole:
            if r.morph in self.morph:
                self.morph[r.morph] += 1
        self.sickle_in_groups += st.sickle_in_groups
        for p in st.counted_platelets:
            self.platelet_objects += 1
            self.platelets += p.platelets_estimated
            share = st.platelet_visible_fraction / max(p.visible_share, 1e-6)
            self.platelets_weighted += p.platelets_estimated * share
            if p.clump:
                self.clumps += 1
                self.clumped_platelets += p.platelets_estimated
        self._gallery(st.gallery)

    def _gallery(self, crops: list[GalleryCrop]) -> None:
        """Keep the first few crops of each kind (bounded)."""
        cap = self.settings.gallery_per_class
        for g in crops:
            if sum(x.kind == g.kind for x in self.gallery) < cap:
                self.gallery.append(g)

    # ------------------------------------------------------------------ results
    @property
    def classified(self) -> int:
        return sum(self.morph.values())

    @property
    def visible_fraction(self) -> float:
        return self.visible_sum / self.tiles if self.tiles else 1.0

    def platelets_per_1000_rbc(self) -> float | None:
        if self.rbcs == 0:
            return None
        return 1000.0 * self.platelets_weighted / max(self.visible_fraction, 1e-6) / self.rbcs

    def document(
        self,
        diff: Differential | None,
        rbc_per_ul: float | None,
        background_usable: bool = True,
        confidence: float = 0.95,
    ) -> dict[str, Any]:
        """Everything ``cbc.json`` holds: indices, estimates, shares, histograms and flags."""
        s = self.settings
        count = rbc_per_ul or s.rbc_per_ul_default
        doc: dict[str, Any] = {
            "red_cells_counted": self.rbcs,
            "red_cells_measured": self.hb.n if self.hb.n else self.diameter.n,
            "red_cells_overlapped": self.overlapped,
            "red_cells_saturated": self.saturated,
            "tiles": self.tiles,
            "confidence": confidence,
            "rbc_per_ul": count,
            "rbc_per_ul_source": "sample" if rbc_per_ul else "default (not given in [sample])",
            "haemoglobin": self._haemoglobin(background_usable, confidence),
            "size": self._size(confidence),
            "morphology": self._morphology(confidence),
            "platelets": self._platelets(count, confidence),
            "white_cells": self._white_cells(diff, count),
        }
        doc["flags"] = [f.to_dict() for f in ordered(self.flags(doc))]
        return doc

    def _haemoglobin(self, background_usable: bool, confidence: float) -> dict[str, Any]:
        problems = sorted(self.hb_problems)
        if not background_usable:
            problems = [
                "the scan has no usable background (none recorded in the manifest): "
                "haemoglobin mass needs a background taken on a blank region; rescan with one"
            ] + problems
        out: dict[str, Any] = {"wavelength_nm": self.hb_wavelength_nm, "problems": problems}
        if self.saturated:
            out["problems"] = problems + [
                f"{self.saturated} red cells lie on clipped (saturated) pixels and were not "
                "measured: lower the exposure at that wavelength"
            ]
        if problems or self.hb.n < 2 or self.hb_all.n < 2:
            out.update(measured=False, mch_pg=None, mch_ci_pg=None, hb_width_cv_percent=None)
            if not problems:
                out["problems"] = ["too few whole red cells to measure haemoglobin"]
            return out
        # MCH over the whole, single cells: a piece of an overlapped group is not one cell
        # (splits add pieces, cells lying on each other read as one), and per piece the mean
        # read 3-5 % low on every donor (benchmarks/RESULTS.md)
        lo, hi = self.hb.interval(confidence)
        out.update(
            measured=True,
            cells=self.hb.n,
            mch_pg=self.hb.mean,
            mch_ci_pg=[lo, hi],
            mch_cells=self.hb.n,
            mch_per_piece_pg=self.hb_all.mean,
            hb_sd_pg=self.hb.sd,
            hb_width_cv_percent=self.hb.cv_percent,
            histogram={"edges_pg": HB_EDGES_PG.tolist(), "counts": self.hb_hist.tolist()},
        )
        return out

    def _size(self, confidence: float) -> dict[str, Any]:
        if self.diameter.n < 2:
            return {"measured": False, "mean_diameter_um": None}
        lo, hi = self.diameter.interval(confidence)
        return {
            "measured": True,
            "cells": self.diameter.n,
            "mean_diameter_um": self.diameter.mean,
            "mean_diameter_ci_um": [lo, hi],
            "diameter_sd_um": self.diameter.sd,
            "rdw_cv_percent": self.diameter.cv_percent,
            "histogram": {
                "edges_um": DIAMETER_EDGES_UM.tolist(),
                "counts": self.diameter_hist.tolist(),
            },
        }

    def cells_in_groups(self) -> float:
        """Red cells in the groups of touching or overlapping cells: their haemoglobin over
        the mean cell's (a piece of a group can hold two cells lying on each other), or the
        pieces' count where haemoglobin is not measured."""
        whole_hb = self.hb.total
        if self.hb.n >= 2 and self.hb.mean > 0 and self.hb_all.n > self.hb.n:
            return max((self.hb_all.total - whole_hb) / self.hb.mean, 0.0)
        return float(self.overlapped)

    def _morphology(self, confidence: float) -> dict[str, Any]:
        """Shares of the classes among the whole cells (what a reviewer recounts), and the
        sickle cells' share among all red cells: the whole sickle cells and those read in
        groups, over the whole cells and the cells the groups hold."""
        n = self.classified
        shares = {}
        for name in RBC_CLASSES:
            k = self.morph[name]
            lo, hi = wilson_interval(k, n, confidence)
            shares[name] = {
                "count": k,
                "percent": 100.0 * k / n if n else None,
                "ci_percent": [100.0 * lo, 100.0 * hi],
            }
        groups = self.cells_in_groups() if n else 0.0
        total = int(round(n + groups))
        sickle = min(self.morph["sickle"] + self.sickle_in_groups, total)
        lo, hi = wilson_interval(sickle, total, confidence)
        all_cells = {
            "percent": 100.0 * sickle / total if total else None,
            "ci_percent": [100.0 * lo, 100.0 * hi],
            "whole": self.morph["sickle"],
            "in_groups": self.sickle_in_groups,
            "cells_in_groups": groups,
        }
        return {
            "classified": n,
            "classes": shares,
            "method": morphology_method(self.settings),
            "sickle_all_cells": all_cells,
        }

    def _platelets(self, rbc_per_ul: float, confidence: float) -> dict[str, Any]:
        per = self.platelets_per_1000_rbc()
        out: dict[str, Any] = {
            "objects": self.platelet_objects,
            "platelets_estimated_seen": self.platelets,
            "clumps": self.clumps,
            "platelets_in_clumps": self.clumped_platelets,
            "visible_fraction": self.visible_fraction,
            "platelets_weighted_by_reach": self.platelets_weighted,
            "per_1000_rbc": per,
        }
        if per is None:
            out["per_ul"] = None
            return out
        lo, hi = _poisson_interval(self.platelets, confidence)
        weight = self.platelets_weighted / self.platelets if self.platelets else 1.0
        scale = 1000.0 * weight / max(self.visible_fraction, 1e-6) / self.rbcs
        out["per_1000_rbc_ci"] = [lo * scale, hi * scale]
        out["per_ul"] = per * rbc_per_ul / 1000.0
        out["per_ul_ci"] = [lo * scale * rbc_per_ul / 1000.0, hi * scale * rbc_per_ul / 1000.0]
        return out

    def _white_cells(self, diff: Differential | None, rbc_per_ul: float) -> dict[str, Any]:
        if diff is None or self.rbcs == 0:
            return {"counted": None, "per_1000_rbc": None, "per_ul": None}
        n = diff.healthy + diff.dead
        per = 1000.0 * n / self.rbcs
        return {"counted": n, "per_1000_rbc": per, "per_ul": per * rbc_per_ul / 1000.0}

    # ------------------------------------------------------------------ flags
    def flags(self, doc: dict[str, Any]) -> list[Flag]:
        """Every CBC finding the figures in ``doc`` support, with its rule."""
        return self._platelet_flags(doc) + self._rbc_flags(doc)

    def _platelet_flags(self, doc: dict[str, Any]) -> list[Flag]:
        s = self.settings
        out: list[Flag] = []
        per_ul = doc["platelets"].get("per_ul")
        if per_ul is None:
            return out
        # the share's lower 95 % bound: a few platelets seen in one clump is no finding
        low_share = wilson_interval(self.clumped_platelets, self.platelets, 0.95)[0]
        if self.platelets and low_share > s.clump_share_max:
            out.append(
                Flag(
                    "platelet_clumps",
                    f"Platelet clumps: {self.clumps} clumps hold {self.clumped_platelets} of "
                    f"{self.platelets} platelets seen; the platelet estimate is unreliable",
                    f"platelets in clumps above {100 * s.clump_share_max:.0f} % of those seen "
                    "(the lower bound of its 95 % interval)",
                )
            )
        if per_ul < s.platelets_low_per_ul:
            out.append(
                Flag(
                    "thrombocytopenia",
                    f"Thrombocytopenia: platelets about {per_ul / 1e3:.0f} x 10^3/uL",
                    f"platelet estimate below {s.platelets_low_per_ul / 1e3:.0f} x 10^3/uL",
                )
            )
        elif per_ul > s.platelets_high_per_ul:
            out.append(
                Flag(
                    "thrombocytosis",
                    f"Thrombocytosis: platelets about {per_ul / 1e3:.0f} x 10^3/uL",
                    f"platelet estimate above {s.platelets_high_per_ul / 1e3:.0f} x 10^3/uL",
                )
            )
        return out

    def _rbc_flags(self, doc: dict[str, Any]) -> list[Flag]:
        s = self.settings
        out: list[Flag] = []
        classes = doc["morphology"]["classes"]
        everyone = doc["morphology"]["sickle_all_cells"]
        sickle = everyone["percent"]
        if sickle is not None and sickle >= s.sickle_min_percent:
            out.append(
                Flag(
                    "sickle_cells",
                    f"Sickle cells seen: {everyone['whole']} whole and {everyone['in_groups']} "
                    f"in groups of touching cells ({sickle:.1f} % of red cells)",
                    f"sickle cells at or above {s.sickle_min_percent:g} % of red cells",
                )
            )
        schisto = classes["schistocyte"]["percent"]
        if schisto is not None and schisto > s.schistocyte_min_percent:
            low = any(f.code == "thrombocytopenia" for f in self._platelet_flags(doc))
            out.append(
                Flag(
                    "schistocytes",
                    f"Schistocytes {schisto:.1f} % of red cells"
                    + (
                        " with thrombocytopenia: consider a microangiopathy (TTP/HUS/DIC)"
                        if low
                        else ""
                    ),
                    f"schistocytes above {s.schistocyte_min_percent:g} % of classified red cells; "
                    "critical when platelets are low",
                    critical=low,
                )
            )
        out += self._index_flags(doc)
        return out

    def _index_flags(self, doc: dict[str, Any]) -> list[Flag]:
        s = self.settings
        out: list[Flag] = []
        mch = doc["haemoglobin"].get("mch_pg")
        if mch is not None and mch < s.hypochromia_mch_pg:
            out.append(
                Flag(
                    "hypochromia",
                    f"Hypochromia: MCH {mch:.1f} pg",
                    f"MCH below {s.hypochromia_mch_pg:g} pg",
                )
            )
        size = doc["size"]
        d = size.get("mean_diameter_um")
        if d is not None and d < s.microcytosis_diameter_um:
            out.append(
                Flag(
                    "microcytosis",
                    f"Microcytosis: mean red-cell diameter {d:.2f} um",
                    f"mean diameter below {s.microcytosis_diameter_um:g} um",
                )
            )
        if d is not None and d > s.macrocytosis_diameter_um:
            out.append(
                Flag(
                    "macrocytosis",
                    f"Macrocytosis: mean red-cell diameter {d:.2f} um",
                    f"mean diameter above {s.macrocytosis_diameter_um:g} um",
                )
            )
        cv = size.get("rdw_cv_percent")
        if cv is not None and cv > s.anisocytosis_cv_percent:
            out.append(
                Flag(
                    "anisocytosis",
                    f"Anisocytosis: diameter distribution width {cv:.1f} %",
                    f"diameter CV above {s.anisocytosis_cv_percent:g} %",
                )
            )
        return out


def _poisson_interval(k: int, confidence: float) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson count."""
    from scipy.stats import chi2

    a = 1.0 - confidence
    lo = 0.0 if k == 0 else float(chi2.ppf(a / 2, 2 * k) / 2)
    hi = float(chi2.ppf(1 - a / 2, 2 * k + 2) / 2)
    return lo, hi
