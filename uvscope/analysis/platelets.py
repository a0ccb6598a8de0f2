"""Platelets of one tile: small, weakly absorbing protein/RNA objects, single or clumped.

A platelet absorbs at 260 nm through its protein and its RNA-rich granular centre, far less
per area than a red cell's haemoglobin, and has no nucleus. Objects between
``platelet_min_area_um2`` and ``platelet_max_area_um2`` that are not red cells are candidates.

Cell debris of a platelet's size absorbs about as much at 260 nm, on average, but is built
differently: a platelet is one near-round disc that carries a fixed protein load per area and
its RNA in a granular centre, so at full resolution its absorbance is concentrated in the
middle (the OD at its centre is 2.4-3.2 times its mean); debris is one to three elongated blobs
whose protein and nucleic acid (none to twice a platelet's) are spread evenly through them, so
its absorbance follows its outline. ``features`` reads these traits from each candidate (its
mean OD, elongation and size, and four measures of how its full-resolution OD is concentrated)
and ``single_score`` weighs them by a linear discriminant fitted on simulated smears of
training slide seeds (``benchmarks/fit_platelet_rule.py`` prints the weights; method and
figures in docs/whole-smear.md). With one wavelength the analysis has no absorbance ratio
(260/280 nm separates nucleic acid from protein); the profile is what is left to read.

A clump holds two or more platelets; it is found by what no single platelet has (more area or
integrated OD than the largest single platelet, or several dense centres) with a platelet's
density, and reported with its estimated count. A single platelet counts one whatever its
integrated OD (single platelets' OD spans four-fold with their 1.5-3 um diameter: counting by
OD made a large single platelet a "clump of two").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy import ndimage as ndi

#: full-resolution smoothing (pixels, sigma) of a candidate's OD before its profile is read
PROFILE_SMOOTH_PX = 0.7
#: the core: the candidate's mask eroded by this many full-resolution pixels
CORE_ERODE_PX = 2
#: the features ``single_score`` weighs, in this order
FEATURES = ("mean_od", "axis_ratio", "log_area", "gyration", "core", "centre", "peak")
#: linear discriminant of single platelets against debris (benchmarks/fit_platelet_rule.py)
SINGLE_WEIGHTS = (-56.0375, -3.3074, 8.7202, 14.2527, -25.734, 5.6929, 4.1857)
#: scores at or above this are single platelets (the fit's 4th percentile of platelets)
SINGLE_THRESHOLD = 20.8959
#: more integrated OD (um^2) or area than the largest single platelets (1.5-3 um discs):
#: a clump of two or more
CLUMP_MIN_OD_UM2 = 0.5
CLUMP_MIN_AREA_UM2 = 8.0
#: a clump that does not score as one platelet: each member keeps its dense RNA centre (peak
#: over mean OD, full resolution) and the members' density
CLUMP_MIN_PEAK_RATIO = 2.6
CLUMP_MEAN_OD = (0.05, 0.1)


@dataclass
class PlateletRecord:
    """One platelet or clump."""

    platelet_id: str
    tile: int
    x_um: float
    y_um: float
    area_um2: float
    integrated_od_um2: float
    clump: bool
    #: platelets in the object (1 for a single one)
    platelets_estimated: int
    counted: bool
    #: share of the tile where an object of this one's reach would be seen clear of the cells
    #: (a clump reaches further than a single platelet, so fewer places leave it clear); the
    #: estimate weighs the object by the tile's single-platelet share over this
    visible_share: float = 1.0

    @staticmethod
    def columns() -> list[str]:
        return [f.name for f in fields(PlateletRecord)]

    def to_row(self) -> dict[str, object]:
        return asdict(self)


def profile(od_full: np.ndarray, mask: np.ndarray) -> tuple[float, float, float, float]:
    """How one candidate's absorbance is concentrated, at full resolution: OD-weighted over
    plain radius of gyration (squared), share of the OD in the eroded core, OD at the
    OD-weighted centre over the mean, and peak over mean. ``od_full`` is the full-resolution
    OD of the candidate's box, ``mask`` its 2 x 2 binned mask over the same box."""
    m = np.kron(mask, np.ones((2, 2), bool))[: od_full.shape[0], : od_full.shape[1]]
    sm = ndi.gaussian_filter(od_full.astype(np.float32), PROFILE_SMOOTH_PX)
    w = np.clip(np.where(m, sm, 0.0), 0.0, None)
    rr, cc = np.nonzero(m)
    wv = w[m]
    total = max(float(wv.sum()), 1e-9)
    cr, cc_ = float((wv * rr).sum()) / total, float((wv * cc).sum()) / total
    plain = float(np.mean((rr - rr.mean()) ** 2 + (cc - cc.mean()) ** 2))
    gyration = float((wv * ((rr - cr) ** 2 + (cc - cc_) ** 2)).sum()) / total / max(plain, 1e-9)
    core = float(w[ndi.binary_erosion(m, iterations=CORE_ERODE_PX)].sum()) / total
    mean = max(float(wv.mean()), 1e-9)
    ir, ic = int(round(cr)), int(round(cc_))
    centre = float(sm[max(ir - 1, 0) : ir + 2, max(ic - 1, 0) : ic + 2].mean()) / mean
    return gyration, core, centre, float(wv.max()) / mean


def features(
    mean_od: np.ndarray, axis_ratio: np.ndarray, area_um2: np.ndarray, profiles: np.ndarray
) -> np.ndarray:
    """(n, len(FEATURES)) feature rows of n candidates; ``profiles`` is (n, 4) of ``profile``."""
    out: np.ndarray = np.column_stack(
        [mean_od, axis_ratio, np.log(np.maximum(area_um2, 1e-6)), profiles.reshape(-1, 4)]
    )
    return out


def single_score(feats: np.ndarray) -> np.ndarray:
    """The discriminant: high for a single platelet, low for debris."""
    out: np.ndarray = feats @ np.asarray(SINGLE_WEIGHTS)
    return out


@dataclass(frozen=True)
class Candidates:
    """A tile's platelet candidates (row i: label ``ids[i]`` of ``labels``)."""

    labels: np.ndarray
    slices: list[tuple[slice, slice]]
    ids: np.ndarray
    area_um2: np.ndarray
    od_um2: np.ndarray
    #: (n, len(FEATURES)) rows of ``features``
    features: np.ndarray


def platelet_counts(feats: np.ndarray, od_um2: np.ndarray, single_od_um2: float) -> np.ndarray:
    """Platelets each candidate holds: 0 (debris), 1 (a single platelet) or a clump's count
    from its integrated OD over ``single_od_um2`` (at least 2)."""
    mean_od, area = feats[:, 0], np.exp(feats[:, 2])
    peak_ratio = feats[:, FEATURES.index("peak")]
    single = single_score(feats) >= SINGLE_THRESHOLD
    big = (od_um2 >= CLUMP_MIN_OD_UM2) | (area >= CLUMP_MIN_AREA_UM2)
    clump_like = (
        ~single
        & (od_um2 >= CLUMP_MIN_OD_UM2)
        & (peak_ratio >= CLUMP_MIN_PEAK_RATIO)
        & (mean_od >= CLUMP_MEAN_OD[0])
        & (mean_od <= CLUMP_MEAN_OD[1])
    )
    clump = (single & big) | clump_like
    members = np.maximum(2, np.round(od_um2 / single_od_um2)).astype(np.int64)
    out: np.ndarray = np.where(clump, members, single.astype(np.int64))
    return out
