"""Red-cell morphology from shape and absorbance: a rule set calibrated on simulated truth.

Label-free, a red cell is its outline and its absorbance profile. The rules, first match wins:
- sickle: long and thin (major / minor axis at least ``SICKLE_ELONGATION``), or a shorter
  crescent as large as a cell (``BENT_ELONGATION``, solidity below ``BENT_SOLIDITY``);
- schistocyte: no central pallor (pallor ratio above ``DOME_PALLOR``) and a fragment's outline:
  cut edges (solidity below ``FRAGMENT_SOLIDITY``), small (area below ``FRAGMENT_AREA_UM2``) or
  oval (a helmet: elongation at least ``FRAGMENT_ELONGATION``);
- spherocyte: no central pallor, whole outline (densest in the centre, a sphere's profile);
- elliptocyte: oval (major / minor at least ``ELLIPTO_ELONGATION``);
- target: a dense centre inside a paler ring (centre ratio above ``TARGET_CENTRE``);
- normal otherwise.
The thresholds sit between the classes' 2nd and 98th percentiles measured on the simulator's
truth (8 donors, benchmarks/bench_cbc.py); they are validated on simulated smears only.

Only whole cells are classified; a sickle cell is long and thin, so it touches or overlaps
other cells more often than a round one and would be under-represented among them (on the
simulated sickle donor 60 % of the sickle cells no other overlaps were whole, against 90 % of
the normal ones). ``sickle_members`` reads the sickle cells lying in groups of touching or
overlapping cells: an opening by a disc wider than a sickle cell and narrower than a round one
removes them from the group, and what it removes is large only where a sickle cell was.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from uvscope.analysis.rbc import Shapes
from uvscope.analysis.window_max import binary_open_disc

#: sickle cells measure 3.0-4.3, elliptocytes up to 2.4
SICKLE_ELONGATION = 2.75
#: a shorter cell that is bent (a crescent: solidity below BENT_SOLIDITY) is a sickle cell too;
#: elliptocytes are convex (solidity about 1), fragments elongate at most 1.87
BENT_ELONGATION = 2.0
BENT_SOLIDITY = 0.9
#: ... and long: a sickle cell is 11-16 um, a bitten fragment (crescent schistocyte) 5-10 um
#: and smaller than FRAGMENT_AREA_UM2 (sickle cells from 25 um^2)
BENT_MIN_UM = 9.0
#: elliptocytes 1.31-2.4; normal cells up to 1.13 (p98), 0.7 % above this (a neighbour or a
#: platelet on their edge)
ELLIPTO_ELONGATION = 1.3
#: spherocytes and fragments 1.34-1.53, biconcave cells (normal, elliptocyte, target) <= 1.10
DOME_PALLOR = 1.2
#: fragments 0.70-0.93 (cut edges), whole cells about 1
FRAGMENT_SOLIDITY = 0.95
#: fragments 14-20 um^2, spherocytes from 23
FRAGMENT_AREA_UM2 = 21.0
#: a helmet cell (a disc cut by one straight edge) is convex but oval: spherocytes measure
#: 1.01-1.06
FRAGMENT_ELONGATION = 1.12
#: targets 1.04-1.16, biconcave cells up to 0.74
TARGET_CENTRE = 0.9


def classify(s: Shapes) -> np.ndarray:
    """The RBC_CLASSES name of every piece (index = piece label) as a string array."""
    elong = s.major_um / np.maximum(s.minor_um, 1e-6)
    dome = s.pallor_ratio > DOME_PALLOR
    out = np.full(s.area_um2.shape, "normal", dtype=object)
    rules = [  # in reverse priority: a later rule overrides an earlier one
        ("target", s.centre_ratio > TARGET_CENTRE),
        ("elliptocyte", elong >= ELLIPTO_ELONGATION),
        ("spherocyte", dome),
        (
            "schistocyte",
            dome
            & (
                (s.solidity < FRAGMENT_SOLIDITY)
                | (s.area_um2 < FRAGMENT_AREA_UM2)
                | (elong >= FRAGMENT_ELONGATION)
            ),
        ),
        (
            "sickle",
            (elong >= SICKLE_ELONGATION)
            | (
                (elong >= BENT_ELONGATION)
                & (s.solidity < BENT_SOLIDITY)
                & (s.major_um >= BENT_MIN_UM)
                & (s.area_um2 >= FRAGMENT_AREA_UM2)
            ),
        ),
    ]
    for name, hit in rules:
        out[hit] = name
    return out


#: a sickle cell in a group: what an opening by a disc of this radius removes (sickle cells
#: are 2.2-3.4 um wide, round cells 6-9 um across)
SICKLE_OPEN_RADIUS_UM = 2.0
#: ... as one piece of at least this area once slivers are shaved off (sickle cells from 17
#: um^2; the rims and necks an opening takes from round cells are a few um^2)
SICKLE_RESIDUE_MIN_UM2 = 10.0


def sickle_members(
    group: np.ndarray, px_um: float
) -> list[tuple[float, float, tuple[int, int, int, int]]]:
    """The sickle cells in a mask of grouped (touching or overlapping) cells: centroid (row,
    col) and box (r0, c0, r1, c1) of each, in the mask's pixels. The opening runs on the mask
    binned 2 x 2 (a sickle cell stays 3-5 binned pixels wide; a quarter of the pixels and a
    quarter of the disc's: the step took a fifth of the time in the profiler). On 3 full tiles of
    the sickle donor (seed 61, before binning) 34 of 35 such parts lay on a sickle cell."""
    h, w = group.shape
    u8 = np.pad(group, ((0, h % 2), (0, w % 2))).view(np.uint8)
    small = (u8[0::2, 0::2] + u8[1::2, 0::2] + u8[0::2, 1::2] + u8[1::2, 1::2]) >= 2
    bin_um = 2.0 * px_um
    r = max(int(round(SICKLE_OPEN_RADIUS_UM / bin_um)), 1)
    padded = np.pad(small, r + 1)
    opened = binary_open_disc(padded, r)
    residue = binary_open_disc(padded & ~opened, 1)[r + 1 : -(r + 1), r + 1 : -(r + 1)]
    labels, n = ndi.label(residue)
    if n == 0:
        return []
    area = np.bincount(labels.ravel(), minlength=n + 1) * bin_um * bin_um
    out = []
    for k, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None or area[k] < SICKLE_RESIDUE_MIN_UM2:
            continue
        rr, cc = np.nonzero(labels[sl] == k)
        box = (2 * sl[0].start, 2 * sl[1].start, min(2 * sl[0].stop, h), min(2 * sl[1].stop, w))
        out.append(
            (
                2 * (sl[0].start + float(rr.mean())) + 0.5,
                2 * (sl[1].start + float(cc.mean())) + 0.5,
                box,
            )
        )
    return out
