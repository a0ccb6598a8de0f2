"""A reviewer's corrections of cell classes, read back from a scan folder.

The GUI writes ``analysis/reviewed_labels.csv`` (one row per changed cell); the report and
anyone re-counting read it here, so the file format and the reviewed differential have one
implementation, with the same Wilson intervals as the automatic count.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from uvscope.analysis.differential import Differential, DifferentialCounter
from uvscope.analysis.settings import CLASSES
from uvscope.errors import StorageError

#: where the reviewed labels live inside a scan folder
REVIEWED_CSV = Path("analysis") / "reviewed_labels.csv"
REVIEWED_FIELDS: tuple[str, ...] = ("cell_id", "tile", "x_um", "y_um", "predicted", "reviewed")
DEAD = "dead"


@dataclass(frozen=True)
class ReviewedLabel:
    """One changed cell: the class the analysis gave it and the one the reviewer chose."""

    cell_id: str
    tile: int
    predicted: str
    reviewed: str


def load_reviewed_labels(scan_dir: str | Path) -> dict[str, ReviewedLabel]:
    """cell id -> reviewed label from a scan folder; empty when it was never reviewed."""
    path = Path(scan_dir) / REVIEWED_CSV
    if not path.exists():
        return {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise StorageError(f"could not read reviewed labels {path}: {err}") from err
    out: dict[str, ReviewedLabel] = {}
    for n, row in enumerate(rows, start=2):
        try:
            label = ReviewedLabel(
                cell_id=row["cell_id"],
                tile=int(row["tile"]),
                predicted=row["predicted"],
                reviewed=row["reviewed"],
            )
        except (KeyError, TypeError, ValueError) as err:
            raise StorageError(
                f"{path} line {n} is not a reviewed label ({err}); its columns must be "
                f"{', '.join(REVIEWED_FIELDS)}: fix or delete the file and review again"
            ) from err
        if label.reviewed not in (*CLASSES, DEAD):
            raise StorageError(
                f"{path} line {n}: unknown class {label.reviewed!r}; expected one of "
                f"{', '.join((*CLASSES, DEAD))}"
            )
        out[label.cell_id] = label
    return out


def reviewed_differential(
    cells: Iterable[tuple[str, str]],
    reviewed: Mapping[str, ReviewedLabel],
    confidence: float = 0.95,
    stop_after_wbc: int | None = None,
) -> Differential:
    """The differential of counted cells ``(cell_id, automatic class)`` after the review.

    A reviewed label replaces the automatic class of its cell; moving a cell to or from
    ``dead`` takes it out of or into the healthy count, as in the automatic differential.
    """
    counter = DifferentialCounter(confidence=confidence, stop_after_wbc=stop_after_wbc)
    for cell_id, cls in cells:
        review = reviewed.get(cell_id)
        final = review.reviewed if review is not None else cls
        counter.add(final, dead=final == DEAD)
    return counter.snapshot()
