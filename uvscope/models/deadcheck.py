"""The dead-cell checkpoint after the dead/healthy classifier (paper 000 section 4.6.2).

The paper found healthy neutrophils called dead and re-examined every "dead" call against
thresholds on mean intensity, Euler number and area of the cell and its nucleus. Here the
thresholds are ranges of healthy cells fitted on the training set; a cell called dead whose
measurements all lie inside the healthy ranges is handed back as healthy. The ranges live in
the model card, so a lab can edit or disable them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from skimage.measure import euler_number

FEATURES = ("cell_area_px", "cell_mean_gray", "nucleus_euler", "nucleus_area_px")


def crop_features(crops: np.ndarray) -> np.ndarray:
    """Measure (N, 4) features from composite crops (N, 3, S, S): see FEATURES.

    Works on the composite alone (R = nucleus x 0.5, G = gray x cell, B = cell x 0.5), so it
    needs nothing beyond what the classifier sees.
    """
    out = np.zeros((len(crops), len(FEATURES)), dtype=np.float32)
    for i, c in enumerate(crops):
        cell = c[2] > 0.25
        nuc = c[0] > 0.25
        area = float(cell.sum())
        out[i, 0] = area
        out[i, 1] = float(c[1][cell].mean()) if area else 0.0
        out[i, 2] = float(euler_number(nuc, connectivity=2)) if nuc.any() else 0.0
        out[i, 3] = float(nuc.sum())
    return out


@dataclass(frozen=True)
class DeadCheckpoint:
    """Healthy ranges per feature; ``enabled`` False passes classifier calls through."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    enabled: bool = True

    @classmethod
    def fit(cls, healthy_features: np.ndarray, pct: float = 2.0) -> DeadCheckpoint:
        """Ranges from the pct..100-pct percentiles of healthy training cells."""
        lo = np.percentile(healthy_features, pct, axis=0)
        hi = np.percentile(healthy_features, 100 - pct, axis=0)
        return cls(tuple(float(v) for v in lo), tuple(float(v) for v in hi))

    def apply(self, p_dead: np.ndarray, features: np.ndarray) -> np.ndarray:
        """p_dead with cells called dead but inside every healthy range set to 0."""
        if not self.enabled:
            return p_dead
        inside = np.all(
            (features >= np.array(self.low)) & (features <= np.array(self.high)), axis=1
        )
        out = p_dead.copy()
        out[(p_dead >= 0.5) & inside] = 0.0
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "features": list(FEATURES),
            "low": list(self.low),
            "high": list(self.high),
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> DeadCheckpoint:
        low, high = d["low"], d["high"]
        assert isinstance(low, list) and isinstance(high, list)
        return cls(tuple(low), tuple(high), bool(d.get("enabled", True)))
