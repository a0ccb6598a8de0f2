"""A reviewer's corrections of cell classes, saved with the scan and exportable as labels.

Kept free of Qt; the file format and its reader live in ``uvscope.analysis.review`` (the
report reads the labels from there).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from uvscope.analysis.review import REVIEWED_CSV, REVIEWED_FIELDS, load_reviewed_labels
from uvscope.errors import StorageError
from uvscope.gui.results import CellRow


@dataclass
class Review:
    cell: CellRow
    reviewed: str


class ReviewStore:
    """Reviewed labels by cell id; ``save`` writes ``analysis/reviewed_labels.csv`` in a scan."""

    def __init__(self) -> None:
        self._reviews: dict[str, Review] = {}

    def __len__(self) -> int:
        return len(self._reviews)

    def set(self, cell: CellRow, reviewed: str) -> None:
        """Record that ``cell`` is really ``reviewed``; setting it back to the prediction undoes."""
        if reviewed == cell.cls:
            self._reviews.pop(cell.cell_id, None)
        else:
            self._reviews[cell.cell_id] = Review(cell, reviewed)

    def label_of(self, cell: CellRow) -> str:
        review = self._reviews.get(cell.cell_id)
        return review.reviewed if review else cell.cls

    def reviews(self) -> list[Review]:
        return sorted(self._reviews.values(), key=lambda r: r.cell.cell_id)

    def save(self, scan_dir: Path) -> Path:
        """Write the reviewed labels into the scan folder (atomically); return the path."""
        path = Path(scan_dir) / REVIEWED_CSV
        return self._write(path)

    def export_training_labels(self, path: Path, cells: list[CellRow]) -> Path:
        """Every cell with its final (reviewed or predicted) label, for ``uvscope train``."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            with tmp.open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(
                    [
                        "cell_id",
                        "tile",
                        "x_um",
                        "y_um",
                        "row0",
                        "col0",
                        "row1",
                        "col1",
                        "label",
                        "reviewed",
                    ]
                )
                for c in cells:
                    final = self.label_of(c)
                    w.writerow(
                        [
                            c.cell_id,
                            c.tile_index,
                            f"{c.x_um:.3f}",
                            f"{c.y_um:.3f}",
                            *c.bbox,
                            final,
                            int(c.cell_id in self._reviews),
                        ]
                    )
            tmp.replace(path)
        except OSError as err:
            raise StorageError(
                f"could not write training labels to {path}: {err}; choose a writable folder"
            ) from err
        return path

    def _write(self, path: Path) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".csv.tmp")
            with tmp.open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(REVIEWED_FIELDS)
                for r in self.reviews():
                    c = r.cell
                    w.writerow(
                        [
                            c.cell_id,
                            c.tile_index,
                            f"{c.x_um:.3f}",
                            f"{c.y_um:.3f}",
                            c.cls,
                            r.reviewed,
                        ]
                    )
            tmp.replace(path)
        except OSError as err:
            raise StorageError(
                f"could not save reviewed labels to {path}: {err}; "
                "check the scan folder is writable"
            ) from err
        return path

    @staticmethod
    def load(scan_dir: Path) -> dict[str, str]:
        """cell id -> reviewed label from a scan folder (empty when never reviewed)."""
        return {k: v.reviewed for k, v in load_reviewed_labels(scan_dir).items()}
