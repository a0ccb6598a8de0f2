"""Results: the live differential and the cell gallery, the reviewer's changes and sign-off.

Every reclassification is saved with the scan at once; "Sign off review" stores who signed
and when in analysis/signoff.json and rewrites the report; "Open report" shows it.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from uvscope.analysis.reference import ReferenceIntervals, ReferenceResult, evaluate
from uvscope.analysis.review import SignOff
from uvscope.classes import DEAD
from uvscope.config import SampleConfig
from uvscope.errors import UvscopeError
from uvscope.gui.differential_view import DifferentialView
from uvscope.gui.flags_banner import FlagsBanner
from uvscope.gui.gallery import CellGallery, CellThumb
from uvscope.gui.report_viewer import ReportViewer, browser_available
from uvscope.gui.results import (
    DisplayCell,
    DisplayDifferential,
    differential_from_labels,
    set_aside,
)
from uvscope.gui.review import ReviewStore
from uvscope.localtime import local_text

SIGNED_STYLE = "QLabel { background: #e8f6ec; color: #14532d; padding: 4px; }"
VOID_STYLE = (
    "QLabel { background: #fdecea; color: #8b1a10; border: 2px solid #c0392b; padding: 6px; }"
)


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
        self.cells: dict[str, DisplayCell] = {}
        self.scan_dir: Path | None = None
        self._analysis_diff: DisplayDifferential | None = None
        self._signed_text = ""
        self._restoring = False  #: taking up a stored review: nothing to save
        self._replaying = False  #: an undo or redo: not a new step
        self._scanning = False
        self._analysed = False
        self.signed_current = False
        #: (cell id, class before, class after) per reclassification, newest last
        self.undo_stack: list[tuple[str, str, str]] = []
        self.redo_stack: list[tuple[str, str, str]] = []
        self.signoff_banner = QLabel("")
        self.signoff_banner.setWordWrap(True)
        self.signoff_banner.setVisible(False)
        for keys, slot in (
            (("Ctrl+Z",), self.undo),
            (("Ctrl+Shift+Z", "Ctrl+Y"), self.redo),
        ):
            for key in keys:
                shortcut = QShortcut(QKeySequence(key), self)
                shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                shortcut.activated.connect(slot)
        #: who and what is on screen: a reviewer must never sign the wrong slide
        self.identity_label = QLabel("")
        self.identity_label.setWordWrap(True)
        self.identity_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.flags_banner = FlagsBanner()
        self.reference = ReferenceIntervals()  #: the lab's intervals (the window sets them)
        self.reference_result: ReferenceResult | None = None
        self.wbc_count = QDoubleSpinBox()
        self.wbc_count.setRange(0, 1_000_000)
        self.wbc_count.setDecimals(0)
        self.wbc_count.setSingleStep(100)
        self.wbc_count.setSpecialValueText("not given")
        self.wbc_count.setSuffix(" /µL")
        self.wbc_count.setToolTip(
            "The sample's WBC count from the analyser's CBC: gives absolute counts per class "
            "and marks them against the absolute reference intervals"
        )
        self.wbc_count.valueChanged.connect(lambda _v: self._refresh_reference())
        self.gallery.cell_activated.connect(self.cell_activated.emit)
        self.gallery.reclassified.connect(self._on_reclassified)
        self.gallery.undo_requested.connect(self.undo)
        self.gallery.redo_requested.connect(self.redo)
        self.export_button = QPushButton("Export training labels...")
        self.export_button.clicked.connect(self._export_dialog)
        self.report_button = QPushButton("Update report")
        self.report_button.setToolTip(
            "Rewrite analysis/report.html with the reviewed differential beside the automatic one"
        )
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self.update_report)
        self.report_written.connect(self._on_report_written)
        self.open_button = QPushButton("Open report")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_report)
        self.operator_edit = QLineEdit()
        self.operator_edit.setPlaceholderText("reviewer's name")
        self.operator_edit.setMaximumWidth(180)
        self.sign_button = QPushButton("Sign off review")
        self.sign_button.setToolTip(
            "Store your name and the time in the scan folder (analysis/signoff.json) and "
            "rewrite the report with the sign-off; a later reclassification voids it"
        )
        self.sign_button.setEnabled(False)
        self.sign_button.clicked.connect(self.sign_off)
        self.saved_label = QLabel("")
        self.saved_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("WBC count"))
        buttons.addWidget(self.wbc_count)
        buttons.addStretch(1)
        buttons.addWidget(self.operator_edit)
        buttons.addWidget(self.sign_button)
        buttons.addWidget(self.report_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.export_button)
        # the differential under the class list: the cells get the width (a laptop's too)
        self.gallery.left_layout.addWidget(self.differential, 1)
        self.gallery.left.setMaximumWidth(400)  # the table's reference columns fit
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.identity_label)
        lay.addWidget(self.signoff_banner)
        lay.addWidget(self.flags_banner)
        lay.addWidget(self.gallery, 1)
        lay.addWidget(self.saved_label)  # its own line: paths are long
        lay.addLayout(buttons)

    def reset(self, scan_dir: Path | None, analysed: bool = True, operator: str = "") -> None:
        """A new scan's results; ``analysed``: the scan runs the analysis (so has a report)."""
        self.scan_dir = scan_dir
        self._analysed = analysed
        self.identity_label.setText("")
        self.operator_edit.setText(operator)
        self.open_button.setEnabled(self._report_path() is not None)
        self.cells.clear()
        self.review = ReviewStore()
        self.undo_stack.clear()
        self.redo_stack.clear()
        self.differential.clear()  # the last slide's numbers never stand beside this one's
        self._analysis_diff = None
        self.reference_result = None
        self.flags_banner.show_flags([])
        self.differential.show_reference(None)
        self.gallery.clear()
        self.saved_label.setText("")
        self.wbc_count.blockSignals(True)
        self.wbc_count.setValue(0)  # the last sample's WBC count is not this one's
        self.wbc_count.blockSignals(False)
        self._update_buttons()
        self.update_signoff_state()
        self.differential.summary.setText(
            "No cells counted yet" if analysed else "Analysis is off for this scan"
        )

    # ------------------------------------------------------------------ what can act now
    def set_scanning(self, scanning: bool) -> None:
        """During a scan nothing is final: no sign-off, no report until it has ended."""
        self._scanning = scanning
        self._update_buttons()

    def _update_buttons(self) -> None:
        can = self.scan_dir is not None and self._analysed and not self._scanning
        self.sign_button.setEnabled(can)
        self.report_button.setEnabled(can)
        why = "" if can else ("a scan is running" if self._scanning else "no analysed scan")
        for b in (self.sign_button, self.report_button):
            b.setStatusTip(why)

    def update_signoff_state(self) -> SignOff | None:
        """Show whether the review on screen is signed off, and void (red) once changed."""
        from uvscope.analysis.review import load_signoff, signoff_is_current

        record = None
        if self.scan_dir is not None:
            try:
                record = load_signoff(self.scan_dir)
            except UvscopeError as err:
                self.signoff_banner.setText(f"Sign-off unreadable: {err}")
                self.signoff_banner.setStyleSheet(VOID_STYLE)
                self.signoff_banner.setVisible(True)
                return None
        self.signed_current = (
            record is not None
            and self.scan_dir is not None
            and signoff_is_current(self.scan_dir, record)
        )
        self.signoff_banner.setVisible(record is not None)
        if record is None:
            return None
        who = f"{html.escape(record.operator)} at {local_text(record.time)}"
        if self.signed_current:
            self.signoff_banner.setText(f"Review signed off by {who}")
            self.signoff_banner.setStyleSheet(SIGNED_STYLE)
        else:
            self.signoff_banner.setText(
                f"<b>The sign-off by {who} no longer covers these numbers</b>: the review was "
                "changed afterwards. Check it, then Sign off review again."
            )
            self.signoff_banner.setStyleSheet(VOID_STYLE)
        return record

    # ------------------------------------------------------------------ undo and redo
    def undo(self) -> bool:
        """Put the last reclassified cell back where it was (Ctrl+Z)."""
        return self._step(self.undo_stack, self.redo_stack)

    def redo(self) -> bool:
        """Do the last undone reclassification again (Ctrl+Shift+Z)."""
        return self._step(self.redo_stack, self.undo_stack)

    def _step(self, source: list[tuple[str, str, str]], target: list[tuple[str, str, str]]) -> bool:
        if not source:
            return False
        cell_id, before, after = source.pop()
        self._replaying = True
        try:
            self.gallery.reclassify(cell_id, before)
        finally:
            self._replaying = False
        target.append((cell_id, after, before))
        self.gallery.select(cell_id)
        return True

    def set_identity(self, sample: SampleConfig, folder: Path | None) -> None:
        """Say whose slide the cells are (sample, slide, operator, folder) above them."""
        parts = [
            f"Sample <b>{html.escape(sample.id) or '(no id)'}</b>",
            f"slide {html.escape(sample.slide_id) or '(no id)'}",
            f"operator {html.escape(sample.operator) or '(not given)'}",
        ]
        if folder is not None:
            parts.append(f"folder {html.escape(str(folder))}")
        self.identity_label.setText(" &nbsp;|&nbsp; ".join(parts))

    def open_stored(self, folder: Path, sample: SampleConfig, analysed: bool) -> int:
        """Clear everything shown and take up a stored scan for (re-)review; its cells come
        through ``add_cells`` as they are read. Returns the stored reviewed labels taken up."""
        self.reset(folder, analysed=analysed)
        self.set_identity(sample, folder)
        if not analysed:
            self.differential.summary.setText(
                f"Not analysed: run `uvscope analyze {folder}`, then open it again"
            )
            return 0
        self.differential.summary.setText("Reading the cells of the stored scan...")
        return self.review.restore(folder)

    def stored_loaded(self) -> None:
        """Every cell of a stored scan is shown: the summary says what the review holds."""
        if len(self.review):
            self._show_reviewed()
        elif self._analysis_diff is not None:
            self.differential.show_differential(self._analysis_diff)
            self._refresh_reference()

    def add_cells(self, thumbs: list[CellThumb]) -> None:
        for t in thumbs:
            self.cells[t.cell.cell_id] = t.cell
        self.gallery.add_cells(thumbs)
        self._restoring = True
        try:  # a stored review: each cell back in the class the reviewer gave it
            for t in thumbs:
                label = self.review.kept_label(t.cell.cell_id)
                if label is not None and label in self.gallery.lists:
                    self.gallery.reclassify(t.cell.cell_id, label)
        finally:
            self._restoring = False
        if len(self.review):
            self._show_reviewed()

    def show_analysis_differential(self, diff: DisplayDifferential) -> None:
        self._analysis_diff = diff
        if len(self.review):
            self._show_reviewed()
        else:
            self.differential.show_differential(diff)
            self._refresh_reference()

    def _show_reviewed(self) -> None:
        labels = [self.review.label_of(c) for c in self.cells.values()]
        self.differential.show_differential(
            differential_from_labels(labels), len(self.review), set_aside(labels)
        )
        self._refresh_reference()

    def counts(self) -> dict[str, int]:
        """Cells per class as shown: the automatic count until a cell is reclassified, then
        every cell's reviewed label (bands, blasts and other review-only classes included)."""
        if len(self.review):
            labels = [self.review.label_of(c) for c in self.cells.values()]
            return {lab: labels.count(lab) for lab in set(labels) if lab != DEAD}
        diff = self._analysis_diff or self.differential.current
        return {**diff.counts, **diff.preclasses} if diff is not None else {}

    def _refresh_reference(self) -> None:
        """H/L marks and flags for what is shown, against the lab's intervals."""
        counts = self.counts()
        if not sum(counts.values()):
            self.reference_result = None
            self.differential.show_reference(None)
            self.flags_banner.show_flags([])
            return
        wbc = self.wbc_count.value() or None
        self.reference_result = evaluate(counts, self.reference, wbc)
        self.differential.show_reference(self.reference_result, self.reference.source)
        self.flags_banner.show_flags(self.reference_result.flags)

    def _on_reclassified(self, cell: DisplayCell, new_cls: str) -> None:
        before = self.review.label_of(cell)
        self.review.set(cell, new_cls)
        if self._restoring:
            return  # as stored: shown by add_cells, nothing changed on disk
        if not self._replaying:
            self.undo_stack.append((cell.cell_id, before, new_cls))
            self.redo_stack.clear()
        if len(self.review):
            self._show_reviewed()
        elif self._analysis_diff is not None:
            self.differential.show_differential(self._analysis_diff)
            self._refresh_reference()
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
            was_signed = self.signed_current
            self.update_signoff_state()
            if was_signed and not self.signed_current:
                self.saved_label.setText(
                    "This change voids the sign-off: the report no longer covers the review "
                    "until it is signed off again"
                )
            self.review_saved.emit(str(path))

    def on_red_cell_review_saved(self, _path: str = "") -> None:
        """The red-cell review is covered by the sign-off too: a reclassified red cell or
        platelet voids it, with the same banner as a reclassified white cell."""
        was_signed = self.signed_current
        self.update_signoff_state()
        if was_signed and not self.signed_current:
            self.saved_label.setText(
                "This red-cell change voids the sign-off: the report no longer covers the "
                "review until it is signed off again"
            )

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
        self.saved_label.setText(self._signed_text + "writing the report...")

        reference, wbc = self.reference, self.wbc_count.value() or None

        def work() -> None:
            from uvscope.report.page import write_report

            try:
                path = write_report(scan_dir, reference=reference, wbc_per_ul=wbc)
            except Exception as err:  # shown by the window with what to do
                self.failed.emit("write the report", err)
                self.report_written.emit("")
                return
            self.report_written.emit(str(path))

        threading.Thread(target=work, name="uvscope-report", daemon=True).start()

    def _on_report_written(self, path: str) -> None:
        self.report_button.setEnabled(self.scan_dir is not None)
        self.open_button.setEnabled(self._report_path() is not None)
        if path:
            self.saved_label.setText(f"{self._signed_text}report written to {path}")
        self._signed_text = ""

    def _report_path(self) -> Path | None:
        if self.scan_dir is None:
            return None
        path = self.scan_dir / "analysis" / "report.html"
        return path if path.exists() else None

    def open_report(self) -> QWidget | None:
        """Show the report in the system's browser (print it from there); where no browser
        can start, in the window, saying where the file is."""
        path = self._report_path()
        if path is None:
            self.saved_label.setText("No report yet: Update report writes it")
            return None
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))) and browser_available():
            self.saved_label.setText(f"report opened in the browser: {path}")
            return None
        viewer = ReportViewer(path, self)
        viewer.show()
        self.saved_label.setText(f"no browser could be started: the report is shown here; {path}")
        return viewer

    def sign_off(self) -> None:
        """Sign the review off as the name typed beside the button, then rewrite the report."""
        from uvscope.analysis.review import sign_off

        scan_dir = self.scan_dir
        if scan_dir is None:
            return
        if not (scan_dir / "analysis" / "differential.json").exists():
            self.saved_label.setText(
                "Nothing to sign off yet: the analysis has not finished writing its results"
            )
            return
        try:
            record = sign_off(scan_dir, self.operator_edit.text())
        except Exception as err:  # shown by the window with what to do
            self.operator_edit.setFocus()
            self.failed.emit("sign off the review", err)
            return
        self._signed_text = f"Review signed off by {record.operator} at {local_text(record.time)}; "
        self.update_signoff_state()
        self.saved_label.setText(self._signed_text + "writing the report...")
        self.update_report()

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
