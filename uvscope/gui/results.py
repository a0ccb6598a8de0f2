"""The shapes of analysis results the result widgets show.

These mirror what the analysis pipeline emits (``tile_analysed`` and ``differential_changed``);
``from_analysis`` helpers adapt the pipeline's own objects so widgets depend on this small
surface only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

WBC_CLASSES: tuple[str, ...] = ("neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil")
DEAD = "dead"


@dataclass(frozen=True)
class CellRow:
    """One detected cell: where it is, what it was called and how sure the model was."""

    cell_id: str
    tile_index: int
    cls: str
    probabilities: Mapping[str, float]
    x_um: float  #: global stage position of the centroid
    y_um: float
    bbox: tuple[int, int, int, int]  #: (row0, col0, row1, col1) in tile pixels
    label: int = 0  #: instance label in the tile's label image


@dataclass
class TileResult:
    """The analysis of one tile: the stained tile, the instance labels and the cells kept."""

    tile_index: int
    stained: np.ndarray  #: (H, W, 3) uint8 virtual Giemsa stain
    labels: np.ndarray  #: (H, W) int instance labels
    cells: list[CellRow] = field(default_factory=list)


@dataclass(frozen=True)
class Differential:
    """Counts, percentages and 95 % confidence intervals per WBC class."""

    counts: Mapping[str, int]
    percentages: Mapping[str, float]
    ci95: Mapping[str, tuple[float, float]]  #: (low, high) in percent
    dead: int = 0

    @property
    def total(self) -> int:
        return int(sum(self.counts.values()))


def wilson_ci_percent(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of k successes in n, in percent; (0, 100) when n is 0."""
    if n <= 0:
        return (0.0, 100.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


def differential_from_labels(
    labels: Iterable[str], classes: Iterable[str] = WBC_CLASSES
) -> Differential:
    """The differential of a list of per-cell class names (used after a reviewer's changes)."""
    classes = tuple(classes)
    labels = list(labels)
    counts = {c: sum(1 for lab in labels if lab == c) for c in classes}
    n = sum(counts.values())
    pct = {c: (100.0 * counts[c] / n if n else 0.0) for c in classes}
    ci = {c: wilson_ci_percent(counts[c], n) for c in classes}
    dead = sum(1 for lab in labels if lab == DEAD)
    return Differential(counts=counts, percentages=pct, ci95=ci, dead=dead)
