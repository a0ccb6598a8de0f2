"""The shapes of analysis results the result widgets show.

These mirror what the analysis pipeline emits (``tile_analysed`` and ``differential_changed``);
``from_analysis`` helpers adapt the pipeline's own objects so widgets depend on this small
surface only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from uvscope.analysis.differential import IN_DIFFERENTIAL, wilson_interval
from uvscope.analysis.review import (  # noqa: F401 - the widgets' one place for class names
    LOW_CONFIDENCE_P,
    OUTSIDE_CLASSES,
    REVIEW_CLASSES,
    REVIEW_ONLY_CLASSES,
)
from uvscope.analysis.settings import CLASSES
from uvscope.classes import DEAD, PRECLASSES

#: the five-part differential, in the report's order
WBC_CLASSES: tuple[str, ...] = CLASSES


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


def cell_box(
    boxes: Sequence[tuple[slice, slice] | None], label: int, row: float, col: float
) -> tuple[int, int, int, int]:
    """The cell's box (row0, col0, row1, col1) from its tile's label image (``boxes``:
    ``scipy.ndimage.find_objects`` of it); 16 px around its centre where the label is gone."""
    box = boxes[label - 1] if 0 < label <= len(boxes) else None
    if box is None:
        r, k = int(row), int(col)
        return (r - 8, k - 8, r + 8, k + 8)
    return (box[0].start, box[1].start, box[0].stop, box[1].stop)


def cell_confidence(cell: CellRow) -> float:
    """The probability of the class the cell was given (dead cells: of being dead)."""
    p = cell.probabilities.get(cell.cls)
    if p is None:
        p = max(cell.probabilities.values(), default=0.0)
    return float(p)


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
    #: pre-classified cells per class (bands, blasts, ...; nucleated red and smudge cells too)
    preclasses: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """The white cells of the 100 %: the five parts and the pre-classes counted in it,
        as ``differential.json`` counts them (its ``healthy``)."""
        inside = sum(int(self.preclasses.get(c, 0)) for c in IN_DIFFERENTIAL)
        return int(sum(self.counts.values())) + inside


def differential_from_labels(
    labels: Iterable[str], classes: Iterable[str] = WBC_CLASSES
) -> Differential:
    """The differential of a list of per-cell class names (used after a reviewer's changes):
    percentages of the 100 % that holds the pre-classes counted in it, as the report's."""
    classes = tuple(classes)
    labels = list(labels)
    counts = {c: sum(1 for lab in labels if lab == c) for c in classes}
    pre = {c: k for c in PRECLASSES if (k := sum(1 for lab in labels if lab == c))}
    n = sum(counts.values()) + sum(pre.get(c, 0) for c in IN_DIFFERENTIAL)
    pct = {c: (100.0 * counts[c] / n if n else 0.0) for c in classes}
    ci = {c: _percent(wilson_interval(counts[c], n)) for c in classes}
    dead = sum(1 for lab in labels if lab == DEAD)
    return Differential(counts=counts, percentages=pct, ci95=ci, dead=dead, preclasses=pre)


def set_aside(labels: Iterable[str]) -> int:
    """Cells a reviewer set aside as artefact or unidentified (in no count)."""
    return sum(1 for lab in labels if lab in REVIEW_ONLY_CLASSES)


def _percent(interval: tuple[float, float]) -> tuple[float, float]:
    return (100.0 * interval[0], 100.0 * interval[1])
