"""Reference cells of the class in view, in a strip under the gallery: what a typical cell of
the class looks like, to hold a doubtful one against.

The lab's own crops where the lab settings name a folder (``reference_cells``), the built-in
simulated ones otherwise (``uvscope.models.reference_cells`` chooses them); a lab folder that
cannot be used is said in the strip, in one line, and the built-in ones stay.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from uvscope.analysis.review import class_label
from uvscope.gui.qimage import rgb_to_pixmap
from uvscope.models.reference_cells import ReferenceCells

PROBLEM_STYLE = "QLabel { color: #8b1a10; }"


class ReferenceStrip(QWidget):
    """A row of reference cells for one class, with where they come from."""

    def __init__(self, thumb_px: int = 56, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb_px = thumb_px
        self.refs = ReferenceCells()
        self.cls = ""
        self.title = QLabel("")
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.setVisible(False)
        self.pictures: list[QLabel] = []
        self._row = QHBoxLayout()
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addWidget(self.title)
        lay.addWidget(self.problem)
        lay.addLayout(self._row)

    def set_references(self, refs: ReferenceCells) -> None:
        self.refs = refs
        self.problem.setText(refs.problem)
        self.problem.setVisible(bool(refs.problem))
        self.show_class(self.cls)

    def show_class(self, cls: str) -> None:
        """The references of ``cls`` (none: says so)."""
        self.cls = cls
        for pic in self.pictures:
            self._row.removeWidget(pic)
            pic.deleteLater()
        self.pictures = []
        images = self.refs.images.get(cls, [])
        name = class_label(cls).capitalize() if cls else ""
        if images:
            self.title.setText(f"Reference {name.lower()}: {self.refs.source.get(cls, '')}")
        else:
            self.title.setText(f"No reference cells for {name.lower() or 'this class'}")
        for i, img in enumerate(images):
            pic = QLabel()
            pic.setPixmap(self._scaled(img))
            pic.setToolTip(f"{name}: {self.refs.source.get(cls, '')}")
            self._row.insertWidget(i, pic)
            self.pictures.append(pic)

    def _scaled(self, img: np.ndarray) -> QPixmap:
        pix = rgb_to_pixmap(img)
        return pix.scaledToHeight(self.thumb_px, Qt.TransformationMode.SmoothTransformation)
