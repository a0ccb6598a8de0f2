"""Red cells and platelets: the scan's indices, histograms, flags and a reviewed gallery.

Filled from the scan folder once the analysis has written ``analysis/cbc.json`` (at the end
of a scan, or when a finished scan is opened for review). Every reclassification is saved at
once to ``analysis/reviewed_rbc.csv`` and the reviewed morphology shares are shown beside the
analysis's. The thumbnails are cropped from the saved tiles off the GUI thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

from uvscope.analysis.rbc_review import (
    SmearObject,
    final_labels,
    load_cbc,
    load_reviewed_rbc,
    load_smear_objects,
    morphology_shares,
    platelet_counts,
    save_reviewed_rbc,
    shown_objects,
    thumbnails,
)
from uvscope.gui.cbc_view import CbcView, Histograms
from uvscope.gui.rbc_gallery import MAX_SHOWN, RbcGallery

NOT_ANALYSED = (
    "Red cells and platelets were not analysed for this scan (no analysis/cbc.json): run "
    "the scan with analysis on, or `uvscope analyze <scan folder>`."
)


class RedCellsPanel(QWidget):
    """``load(folder)`` shows a finished scan's red cells and platelets; ``reset`` clears."""

    #: (generation, (objects, reviewed labels) or None, thumbnails or the error) from the
    #: reading thread
    _thumbs_ready = Signal(int, object, object)
    #: the gallery is filled (tests and the window wait on it)
    gallery_ready = Signal()
    review_saved = Signal(str)
    failed = Signal(str, object)
    #: a red cell or platelet to show in the mosaic (it has ``x_um`` and ``y_um``)
    cell_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scan_dir: Path | None = None
        self.doc: dict[str, Any] | None = None
        self.objects: dict[str, SmearObject] = {}
        self.reviewed: dict[str, str] = {}
        self._generation = 0
        self.cbc = CbcView()
        self.histograms = Histograms()
        self.gallery = RbcGallery()
        self.gallery.reclassified.connect(self._on_reclassified)
        self.gallery.cell_activated.connect(self.cell_activated.emit)
        self.saved_label = QLabel("")
        self.saved_label.setWordWrap(True)
        self._thumbs_ready.connect(self._on_thumbs)
        left = QScrollArea()
        left.setWidgetResizable(True)
        left.setWidget(self.cbc)
        left.setMinimumWidth(280)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.histograms)
        right.addWidget(self.gallery)
        right.setStretchFactor(1, 1)
        right.setSizes([200, 500])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([330, 900])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split, 1)
        lay.addWidget(self.saved_label)
        self.reset(None)

    def reset(self, scan_dir: Path | None, analysed: bool = True) -> None:
        """A new scan: nothing shown until ``load`` (its figures come when it finishes)."""
        self._generation += 1
        self.scan_dir = scan_dir
        self.doc = None
        self.objects = {}
        self.reviewed = {}
        self.gallery.clear()
        self.histograms.show_cbc(None)
        self.saved_label.setText("")
        if scan_dir is None:
            self.cbc.show_nothing("No scan loaded.")
        elif analysed:
            self.cbc.show_nothing("Red cells and platelets are shown when the analysis finishes.")
        else:
            self.cbc.show_nothing(NOT_ANALYSED)

    def load(self, scan_dir: str | Path) -> None:
        """Show a scan folder's red cells and platelets (a clear state when not analysed).

        ``cbc.json`` is read here; the tables of objects, the review and the thumbnails off
        the GUI thread (a large scan has tens of thousands of red cells)."""
        scan_dir = Path(scan_dir)
        self.reset(scan_dir)
        try:
            doc = load_cbc(scan_dir)
        except Exception as err:  # shown by the window with what to do
            self.cbc.show_nothing(f"Could not read the red-cell results: {err}")
            self.failed.emit("read the red-cell results", err)
            return
        if doc is None:
            self.cbc.show_nothing(NOT_ANALYSED)
            return
        self.doc = doc
        self.cbc.show_cbc(doc)
        self.histograms.show_cbc(doc)
        self._show_reviewed()
        self.saved_label.setText("reading the red cells and platelets, cropping thumbnails...")
        generation = self._generation

        def work() -> None:
            try:
                objects = load_smear_objects(scan_dir)
                reviewed = {k: v.reviewed for k, v in load_reviewed_rbc(scan_dir).items()}
                thumbs = thumbnails(scan_dir, shown_objects(objects, reviewed, MAX_SHOWN))
            except Exception as err:  # shown by the window with what to do
                self.failed.emit("read the red cells and platelets", err)
                self._thumbs_ready.emit(generation, None, str(err))
                return
            self._thumbs_ready.emit(generation, (objects, reviewed), thumbs)

        threading.Thread(target=work, name="uvscope-rbc-gallery", daemon=True).start()

    def _on_thumbs(self, generation: int, read: Any, thumbs: Any) -> None:
        """The thread's (objects, reviewed labels) and thumbnails, or None and the error."""
        if generation != self._generation:
            return  # a later scan replaced this one
        if read is None:
            self.saved_label.setText(f"No gallery: {thumbs}")
            self.gallery_ready.emit()
            return
        objects, reviewed = read
        self.objects = {o.object_id: o for o in objects}
        self.reviewed = {k: v for k, v in reviewed.items() if k in self.objects}
        self._show_reviewed()
        self.gallery.set_objects(objects, thumbs, self.reviewed)
        self.saved_label.setText(
            f"{len(self.reviewed)} reviewed labels in analysis/reviewed_rbc.csv"
            if self.reviewed
            else "Select cells and press a class key to reclassify them; saved at once."
        )
        self.gallery_ready.emit()

    def _show_reviewed(self) -> None:
        """The reviewed shares beside the analysis's ("-" until something is reviewed)."""
        if not self.reviewed:
            self.cbc.show_shares({}, 1)
            return
        labels = final_labels(self.objects.values(), self.reviewed)
        confidence = float((self.doc or {}).get("confidence", 0.95))
        self.cbc.show_shares(morphology_shares(labels.values(), confidence), 1)
        plt = platelet_counts(labels.values())
        self.cbc.status.setText(
            self.cbc.status.text().split(" Reviewed:")[0]
            + f" Reviewed: objects changed {len(self.reviewed)}; after review "
            f"{plt['platelet']} single platelets and {plt['platelet_clump']} clumps."
        )

    def _on_reclassified(self, obj: SmearObject, new_cls: str) -> None:
        if new_cls == obj.predicted:
            self.reviewed.pop(obj.object_id, None)
        else:
            self.reviewed[obj.object_id] = new_cls
        self._show_reviewed()
        if self.scan_dir is None:
            return
        try:
            path = save_reviewed_rbc(
                self.scan_dir, [(self.objects[k], v) for k, v in self.reviewed.items()]
            )
        except Exception as err:  # shown by the window with what to do
            self.failed.emit("save the reviewed red cells", err)
            return
        self.saved_label.setText(f"{len(self.reviewed)} reviewed labels saved to {path}")
        self.review_saved.emit(str(path))
