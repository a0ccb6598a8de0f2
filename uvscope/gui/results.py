"""Display views of the analysis's results: what the result widgets draw, nothing more.

The analysis's own types are the results (``uvscope.analysis.pipeline.TileResult``,
``uvscope.analysis.cells.CellRecord``, ``uvscope.analysis.differential.Differential``); these
views hold only what a widget shows, in the shape it shows it (a cell's box in tile pixels, a
class's percentages by name), so a stored scan read back from ``cells.csv`` and
``differential.json`` looks exactly like a live one. ``analysis_adapter`` makes them from the
analysis's objects; the counting itself is always the analysis's (``DifferentialCounter``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from uvscope.analysis.differential import (
    COUNTABLE,
    IN_DIFFERENTIAL,
    ClassCount,
    DifferentialCounter,
)
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
class DisplayCell:
    """One counted cell as the gallery and the review show it (from a ``CellRecord`` or a
    ``cells.csv`` row): its class with ``dead`` folded in, probabilities by class name and its
    box in tile pixels."""

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


def cell_confidence(cell: DisplayCell) -> float:
    """The probability of the class the cell was given (dead cells: of being dead)."""
    p = cell.probabilities.get(cell.cls)
    if p is None:
        p = max(cell.probabilities.values(), default=0.0)
    return float(p)


@dataclass
class DisplayTile:
    """One analysed tile as the mosaic's layers and the gallery draw it: the stained tile (the
    gray tile where no stainer ran), the instance labels and the counted cells."""

    tile_index: int
    stained: np.ndarray  #: (H, W, 3) uint8 virtual Giemsa stain
    labels: np.ndarray  #: (H, W) int instance labels
    cells: list[DisplayCell] = field(default_factory=list)


@dataclass(frozen=True)
class DisplayDifferential:
    """A differential as its table shows it: counts, percentages and 95 % confidence
    intervals by WBC class name (from the analysis's ``Differential`` rows)."""

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

    @classmethod
    def from_rows(
        cls,
        classes: Iterable[ClassCount],
        preclasses: Iterable[ClassCount] = (),
        dead: int = 0,
    ) -> DisplayDifferential:
        """The view of a differential's ``ClassCount`` rows: the five parts (a class without
        a row reads 0) and the pre-classes that have a cell."""
        rows = {r.name: r for r in classes}
        none = ClassCount("", 0, 0.0, 0.0, 0.0)
        kept = {name: rows.get(name, none) for name in WBC_CLASSES}
        return cls(
            counts={name: int(r.count) for name, r in kept.items()},
            percentages={name: float(r.percent) for name, r in kept.items()},
            ci95={
                name: (float(r.ci_low_percent), float(r.ci_high_percent))
                for name, r in kept.items()
            },
            dead=int(dead),
            preclasses={r.name: int(r.count) for r in preclasses if r.count},
        )


def differential_from_labels(labels: Iterable[str]) -> DisplayDifferential:
    """The differential of a list of per-cell class names (used after a reviewer's changes),
    counted by the analysis's ``DifferentialCounter``: percentages of the 100 % that holds the
    pre-classes counted in it, as the report's. Labels in no count (artefact, unidentified)
    are skipped; nucleated red and smudge cells are listed with the pre-classes."""
    counter = DifferentialCounter()
    for lab in labels:
        if lab == DEAD or lab in COUNTABLE:
            counter.add(lab, dead=lab == DEAD)
    d = counter.snapshot()
    view = DisplayDifferential.from_rows(d.classes, (), d.dead)
    pre = {c: k for c in PRECLASSES if (k := counter.precounts[c])}
    return replace(view, preclasses=pre)


def set_aside(labels: Iterable[str]) -> int:
    """Cells a reviewer set aside as artefact or unidentified (in no count)."""
    return sum(1 for lab in labels if lab in REVIEW_ONLY_CLASSES)
