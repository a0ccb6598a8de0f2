"""Results: the live differential and the cell gallery, with the reviewer's changes saved."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from uvscope.gui.differential_view import DifferentialView
from uvscope.gui.gallery import CellGallery, CellThumb
from uvscope.gui.results import CellRow, Differential, differential_from_labels
from uvscope.gui.review import ReviewStore


class ResultsPanel(QWidget):
    """Shows the analysis's differential until a cell is reclassified, then the reviewed one."""

    cell_activated = Signal(object)
    review_saved = Signal(str)
    report_written = Signal(str)
    failed = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.differential = DifferentialView()
        self.gallery = CellGallery()
        self.review = ReviewStore()
        self.cells: dict[str, CellRow] = {}
        self.scan_dir: Path | None = None
        self._analysis_diff: Differential | None = None
        self.gallery.cell_activated.connect(self.cell_activated.emit)
        self.gallery.reclassified.connect(self._on_reclassified)
        self.export_button = QPushButton("Export training labels...")
        self.export_button.clicked.connect(self._export_dialog)
        self.report_button = QPushButton("Update report")
        self.report_button.setToolTip(
            "Rewrite analysis/report.html with the reviewed differential beside the automatic one"
        )
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self.update_report)
        self.report_written.connect(self._on_report_written)
        self.saved_label = QLabel("")
        buttons = QHBoxLayout()
        buttons.addWidget(self.saved_label, 1)
        buttons.addWidget(self.report_button)
        buttons.addWidget(self.export_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.gallery)
        split.addWidget(self.differential)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split, 1)
        lay.addLayout(buttons)

    def reset(self, scan_dir: Path | None, analysed: bool = True) -> None:
        """A new scan's results; ``analysed``: the scan runs the analysis (so has a report)."""
        self.scan_dir = scan_dir
        self.cells.clear()
        self.review = ReviewStore()
        self._analysis_diff = None
        self.gallery.clear()
        self.saved_label.setText("")
        self.report_button.setEnabled(scan_dir is not None and analysed)
        self.differential.summary.setText(
            "No cells counted yet" if analysed else "Analysis is off for this scan"
        )

    def add_cells(self, thumbs: list[CellThumb]) -> None:
        for t in thumbs:
            self.cells[t.cell.cell_id] = t.cell
        self.gallery.add_cells(thumbs)
        if len(self.review):
            self._show_reviewed()

    def show_analysis_differential(self, diff: Differential) -> None:
        self._analysis_diff = diff
        if len(self.review):
            self._show_reviewed()
        else:
            self.differential.show_differential(diff)

    def _show_reviewed(self) -> None:
        labels = [self.review.label_of(c) for c in self.cells.values()]
        self.differential.show_differential(differential_from_labels(labels), len(self.review))

    def _on_reclassified(self, cell: CellRow, new_cls: str) -> None:
        self.review.set(cell, new_cls)
        if len(self.review):
            self._show_reviewed()
        elif self._analysis_diff is not None:
            self.differential.show_differential(self._analysis_diff)
        if self.scan_dir is not None:
            try:
                path = self.review.save(self.scan_dir)
            except Exception as err:  # shown by the window with what to do
                self.failed.emit("save the reviewed labels", err)
                return
            self.saved_label.setText(
                f"{len(self.review)} reviewed labels saved to {path}; "
                "Update report puts them in the report"
            )
            self.review_saved.emit(str(path))

    def update_report(self) -> None:
        """Rewrite the scan's HTML report off the GUI thread (it reads mosaic and tiles)."""
        scan_dir = self.scan_dir
        if scan_dir is None:
            return
        if not (scan_dir / "analysis" / "differential.json").exists():
            self.saved_label.setText(
                "No analysis results yet: the report is written once the analysis has finished "
                f"(or run `uvscope analyze {scan_dir}`)"
            )
            return
        self.report_button.setEnabled(False)
        self.saved_label.setText("writing the report...")

        def work() -> None:
            from uvscope.io.report import write_report

            try:
                path = write_report(scan_dir)
            except Exception as err:  # shown by the window with what to do
                self.failed.emit("write the report", err)
                self.report_written.emit("")
                return
            self.report_written.emit(str(path))

        threading.Thread(target=work, name="uvscope-report", daemon=True).start()

    def _on_report_written(self, path: str) -> None:
        self.report_button.setEnabled(self.scan_dir is not None)
        self.saved_label.setText(f"report written to {path}" if path else "")

    def export(self, path: Path) -> Path:
        return self.review.export_training_labels(path, list(self.cells.values()))

    def _export_dialog(self) -> None:
        start = str(self.scan_dir / "training_labels.csv") if self.scan_dir else "labels.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export training labels", start, "CSV (*.csv)")
        if path:
            try:
                out = self.export(Path(path))
            except Exception as err:
                self.failed.emit("export the training labels", err)
                return
            self.saved_label.setText(f"training labels exported to {out}")
