"""The selected cell, enlarged, with its probabilities and where it lies in the scan.

A review station shows the cell big enough to judge granules and lobes, and where it came
from, without leaving the gallery; "Show in mosaic" is there for when the neighbourhood
matters.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from uvscope.analysis.review import class_label
from uvscope.gui.qimage import rgb_to_pixmap
from uvscope.gui.results import LOW_CONFIDENCE_P, DisplayCell, cell_confidence
from uvscope.gui.style import class_color


class Locator(QWidget):
    """Every cell of the scan as a dot, the selected one under a cross: where it lies."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(160, 110)
        self.cells: list[DisplayCell] = []
        self.selected: DisplayCell | None = None

    def set_cells(self, cells: list[DisplayCell], selected: DisplayCell | None) -> None:
        self.cells, self.selected = cells, selected
        self.update()

    def map_point(self, x_um: float, y_um: float) -> QPointF:
        """Widget coordinates of a stage position (the cells' extent fills the widget)."""
        xs = [c.x_um for c in self.cells] or [x_um]
        ys = [c.y_um for c in self.cells] or [y_um]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        span = max(x1 - x0, y1 - y0, 1.0)
        m = 8.0
        scale = min((self.width() - 2 * m) / span, (self.height() - 2 * m) / span)
        ox = (self.width() - (x1 - x0) * scale) / 2
        oy = (self.height() - (y1 - y0) * scale) / 2
        return QPointF(ox + (x_um - x0) * scale, oy + (y_um - y0) * scale)

    def paintEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(250, 250, 250))
        p.setPen(QPen(QColor(200, 200, 200)))
        p.drawRect(QRectF(0, 0, self.width() - 1, self.height() - 1))
        for c in self.cells:
            p.setPen(QPen(QColor(*class_color(c.cls)), 3))
            p.drawPoint(self.map_point(c.x_um, c.y_um))
        if self.selected is not None:
            pt = self.map_point(self.selected.x_um, self.selected.y_um)
            p.setPen(QPen(QColor(200, 0, 0), 2))
            p.drawLine(QPointF(pt.x() - 9, pt.y()), QPointF(pt.x() + 9, pt.y()))
            p.drawLine(QPointF(pt.x(), pt.y() - 9), QPointF(pt.x(), pt.y() + 9))
        p.end()


class CellDetail(QWidget):
    """Emits ``locate(cell)`` when the operator asks to see the cell in the mosaic."""

    locate = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QLabel("Select a cell")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(200, 100)
        self.image.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.locator = Locator()
        self.locate_button = QPushButton("Show in mosaic")
        self.locate_button.setEnabled(False)
        self.locate_button.clicked.connect(self._locate)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.image, 3)
        lay.addWidget(self.info)
        lay.addWidget(self.locator, 1)
        lay.addWidget(self.locate_button)
        self.cell: DisplayCell | None = None
        self._thumb: np.ndarray | None = None

    def show_cell(
        self,
        cell: DisplayCell | None,
        thumb: np.ndarray | None,
        label: str,
        cells: list[DisplayCell],
    ) -> None:
        """Show ``cell`` (now labelled ``label``) among all ``cells``; None clears."""
        self.cell, self._thumb = cell, thumb
        self.locate_button.setEnabled(cell is not None)
        self.locator.set_cells(cells, cell)
        if cell is None:
            self.image.setPixmap(rgb_to_pixmap(np.full((1, 1, 3), 240, np.uint8)))
            self.info.setText("")
            return
        self._draw()
        p = cell_confidence(cell)
        top = sorted(cell.probabilities.items(), key=lambda kv: -kv[1])[:3]
        probs = ", ".join(f"{class_label(k)} {v:.2f}" for k, v in top)
        low = f' <b style="color:#b00">low confidence (p &lt; {LOW_CONFIDENCE_P})</b>'
        changed = f"<br><b>reviewed: {class_label(label)}</b>" if label != cell.cls else ""
        self.info.setText(
            f"<b>{class_label(cell.cls)}</b> p = {p:.2f}{low if p < LOW_CONFIDENCE_P else ''}"
            f"{changed}<br>{probs}<br>tile {cell.tile_index}, cell {cell.cell_id}<br>"
            f"x {cell.x_um / 1000:.4f} mm, y {cell.y_um / 1000:.4f} mm"
        )

    def _draw(self) -> None:
        if self._thumb is None:
            return
        pix = rgb_to_pixmap(self._thumb)
        size = self.image.size()
        self.image.setPixmap(
            pix.scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
            )
        )

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._draw()

    def _locate(self) -> None:
        if self.cell is not None:
            self.locate.emit(self.cell)
