"""Platelets of one tile: small, weakly absorbing protein/RNA objects, single or clumped.

A platelet absorbs at 260 nm through its protein and its RNA-rich granular centre, far less
per area than a red cell's haemoglobin, and has no nucleus. Objects between
``platelet_min_area_um2`` and ``platelet_max_area_um2`` that are not red cells are platelets;
one whose integrated OD is that of two or more platelets is a clump, reported with its
estimated count (a clump is never counted as one platelet).

Cell debris of a platelet's size absorbs about as much at 260 nm, but differently: a platelet
carries a fixed protein and RNA load per area (its mean OD is narrow), its RNA sits in a
granular centre (the smoothed peak is about twice the mean), and it is a near-round disc (axis
ratio at most 4:3). Debris is a few elongated blobs whose nucleic-acid load varies from none to
twice a platelet's, spread evenly through it. ``platelet_like`` keeps what has all three of a
platelet's traits; the bounds sit at the 2nd-98th percentiles of the platelets the analysis
finds on simulated smears (docs/whole-smear.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

#: a single platelet's mean OD at 260 nm (its protein and RNA per area are fixed)
SINGLE_MEAN_OD = (0.048, 0.082)
#: smoothed peak over mean OD: the RNA-rich centre of a platelet (even debris: lower)
MIN_PEAK_RATIO = 1.65
#: major over minor axis of a single platelet (a disc, at most 4:3 with the blur)
MAX_AXIS_RATIO = 1.5
#: integrated OD (um^2) from which an object may be a clump (1.6 platelets)
CLUMP_MIN_OD_UM2 = 0.45
#: a clump: platelets lying on each other raise its mean OD, but each keeps its dense centre
CLUMP_MAX_MEAN_OD = 0.1
CLUMP_MIN_PEAK_RATIO = 2.3


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

    @staticmethod
    def columns() -> list[str]:
        return [f.name for f in fields(PlateletRecord)]

    def to_row(self) -> dict[str, object]:
        return asdict(self)


def platelets_in(integrated_od_um2: float, single_od_um2: float) -> int:
    """Platelets an object holds, from its integrated OD (at least one)."""
    return max(1, int(round(integrated_od_um2 / single_od_um2)))


def platelet_like(
    od_um2: np.ndarray, mean_od: np.ndarray, peak_od: np.ndarray, axis_ratio: np.ndarray
) -> np.ndarray:
    """Which objects absorb like a platelet or a clump rather than debris (elementwise):
    integrated OD (um^2), mean and smoothed peak OD, major / minor axis."""
    ratio = peak_od / np.maximum(mean_od, 1e-9)
    single = (
        (mean_od >= SINGLE_MEAN_OD[0])
        & (mean_od <= SINGLE_MEAN_OD[1])
        & (ratio >= MIN_PEAK_RATIO)
        & (axis_ratio <= MAX_AXIS_RATIO)
    )
    clump = (
        (od_um2 >= CLUMP_MIN_OD_UM2)
        & (mean_od >= SINGLE_MEAN_OD[0])
        & (mean_od <= CLUMP_MAX_MEAN_OD)
        & (ratio >= CLUMP_MIN_PEAK_RATIO)
    )
    out: np.ndarray = single | clump
    return out
