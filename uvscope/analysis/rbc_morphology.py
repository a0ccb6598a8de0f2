"""Red-cell morphology from shape and haemoglobin: a rule set calibrated on simulated truth.

Label-free, a red cell is its outline and its absorbance profile. The rules, first match wins:
- sickle: long and thin (major / minor axis at least ``SICKLE_ELONGATION``);
- schistocyte: a fragment (area below ``FRAGMENT_AREA`` of a normal cell) or an irregular
  outline (solidity below ``FRAGMENT_SOLIDITY``);
- elliptocyte: oval (major / minor at least ``ELLIPTO_ELONGATION``);
- spherocyte: small and without central pallor (pallor ratio above ``SPHERO_PALLOR``);
- target: a dense centre inside a paler ring (centre ratio above ``TARGET_CENTRE``);
- normal otherwise.
The thresholds were set on the simulator's truth (benchmarks/bench_cbc.py measures them on
held-out slides); they are validated on simulated smears only.
"""

from __future__ import annotations

import numpy as np

from uvscope.analysis.rbc import Shapes

SICKLE_ELONGATION = 2.6
ELLIPTO_ELONGATION = 1.45
#: a normal cell's area (7.5 um disc, um^2); a fragment is smaller than FRAGMENT_AREA of it
NORMAL_AREA_UM2 = 44.0
FRAGMENT_AREA = 0.45
FRAGMENT_SOLIDITY = 0.86
SPHERO_DIAMETER_UM = 6.9
SPHERO_PALLOR = 1.02
TARGET_CENTRE = 1.15


def classify(s: Shapes) -> np.ndarray:
    """The RBC_CLASSES name of every piece (index = piece label) as a string array."""
    elong = s.major_um / np.maximum(s.minor_um, 1e-6)
    out = np.full(s.area_um2.shape, "normal", dtype=object)
    rules = [
        ("target", s.centre_ratio > TARGET_CENTRE),
        ("spherocyte", (s.diameter_um < SPHERO_DIAMETER_UM) & (s.pallor_ratio > SPHERO_PALLOR)),
        ("elliptocyte", elong >= ELLIPTO_ELONGATION),
        (
            "schistocyte",
            (s.area_um2 < FRAGMENT_AREA * NORMAL_AREA_UM2) | (s.solidity < FRAGMENT_SOLIDITY),
        ),
        ("sickle", elong >= SICKLE_ELONGATION),
    ]
    for name, hit in rules:  # in reverse priority: a later rule overrides an earlier one
        out[hit] = name
    return out
