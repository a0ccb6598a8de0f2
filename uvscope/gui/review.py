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
from uvscope.gui.results import DisplayCell


@dataclass
class Review:
    cell: DisplayCell
    reviewed: str


class ReviewStore:
    """Reviewed labels by cell id; ``save`` writes ``analysis/reviewed_labels.csv`` in a scan."""

    def __init__(self) -> None:
        self._reviews: dict[str, Review] = {}
        #: rows of a stored review whose cells are not shown (yet): written back as they were
        self._kept: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self._reviews)

    def restore(self, scan_dir: Path) -> int:
        """Take up the review stored in a scan folder (a re-review): its rows are kept as they
        are until their cells arrive (``kept_label``), so a save never drops one."""
        labels = load_reviewed_labels(scan_dir)  # validates the file
        path = Path(scan_dir) / REVIEWED_CSV
        self._kept = {}
        if labels:
            with path.open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    self._kept[row["cell_id"]] = [row[k] for k in REVIEWED_FIELDS]
        return len(self._kept)

    def kept_label(self, cell_id: str) -> str | None:
        """The stored reviewed label of a cell not yet taken up, if any."""
        row = self._kept.get(cell_id)
        return row[REVIEWED_FIELDS.index("reviewed")] if row else None

    def set(self, cell: DisplayCell, reviewed: str) -> None:
        """Record that ``cell`` is really ``reviewed``; setting it back to the prediction undoes."""
        self._kept.pop(cell.cell_id, None)
        if reviewed == cell.cls:
            self._reviews.pop(cell.cell_id, None)
        else:
            self._reviews[cell.cell_id] = Review(cell, reviewed)

    def label_of(self, cell: DisplayCell) -> str:
        review = self._reviews.get(cell.cell_id)
        return review.reviewed if review else cell.cls

    def reviews(self) -> list[Review]:
        return sorted(self._reviews.values(), key=lambda r: r.cell.cell_id)

    def save(self, scan_dir: Path) -> Path:
        """Write the reviewed labels into the scan folder (atomically); return the path."""
        path = Path(scan_dir) / REVIEWED_CSV
        if not self._reviews and not self._kept:
            # every change undone: no file, exactly as before the review (a sign-off of the
            # unreviewed count covers it again)
            try:
                path.unlink(missing_ok=True)
            except OSError as err:
                raise StorageError(
                    f"could not remove {path}: {err}; check the scan folder is writable"
                ) from err
            return path
        return self._write(path)

    def export_training_labels(self, path: Path, cells: list[DisplayCell]) -> Path:
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
                rows = dict(self._kept)
                for r in self.reviews():
                    c = r.cell
                    rows[c.cell_id] = [
                        c.cell_id,
                        str(c.tile_index),
                        f"{c.x_um:.3f}",
                        f"{c.y_um:.3f}",
                        c.cls,
                        r.reviewed,
                    ]
                for cell_id in sorted(rows):
                    w.writerow(rows[cell_id])
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
