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
"""

from __future__ import annotations

import numpy as np

from uvscope.analysis.rbc import Shapes

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
