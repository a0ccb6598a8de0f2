"""The all-classes page: a row of cells per class, as a review station's overview.

One look shows whether every class holds what it should (a blast among the lymphocytes, a
smudge counted as a monocyte) before going through the classes one by one. Each row is a
class that has cells, in the review's order, its count and its first cells as the gallery
sorts them (least sure first); a click on a cell opens it in that class's gallery.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QResizeEvent
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from uvscope.analysis.review import class_label

_ID_ROLE = Qt.ItemDataRole.UserRole
#: thumbnails per row: enough to see what a class holds, few enough for a laptop's width
CELLS_PER_ROW = 8


class ClassRow(QListWidget):
    """One class's first cells in a single line of thumbnails (no wrapping, no scrolling)."""

    def __init__(self, thumb_px: int) -> None:
        super().__init__()
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListWidget.Movement.Static)
        self.setIconSize(QSize(2 * thumb_px, thumb_px))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setGridSize(QSize(2 * thumb_px + 8, thumb_px + 8))
        self.setFixedHeight(thumb_px + 14)
        self.setFrameShape(QListWidget.Shape.NoFrame)

    def shown(self) -> int:
        """How many cells are in view: only whole thumbnails, never one cut by the edge."""
        return sum(not self.isRowHidden(i) for i in range(self.count()))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        fits = max(1, self.viewport().width() // self.gridSize().width())
        for i in range(self.count()):
            self.setRowHidden(i, i >= fits)

    def cell_ids(self) -> list[str]:
        return [self.item(i).data(_ID_ROLE) for i in range(self.count())]


class AllClassesPage(QWidget):
    """Emits ``cell_chosen(cell_id)`` when a cell is clicked."""

    cell_chosen = Signal(str)

    def __init__(self, thumb_px: int = 48, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb_px = thumb_px
        self.rows: dict[str, ClassRow] = {}
        self.titles: dict[str, QLabel] = {}
        self.empty = QLabel("No cells yet")
        self._rows_widget = QWidget()
        body = QWidget()
        self._body_layout = QVBoxLayout(body)
        self._body_layout.setContentsMargins(4, 4, 4, 4)
        self._body_layout.addWidget(self.empty)
        self._body_layout.addWidget(self._rows_widget)
        self._body_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)

    def show_classes(
        self,
        classes: Sequence[str],
        order: dict[str, list[str]],
        icons: dict[str, QIcon],
    ) -> None:
        """Rebuild the rows: ``order`` holds each class's cell ids as the gallery shows them,
        ``icons`` each cell's thumbnail icon (the gallery's, marks included)."""
        self.rows.clear()
        self.titles.clear()
        shown = [c for c in classes if order.get(c)]
        self.empty.setVisible(not shown)
        rows_widget = QWidget()
        rows = QVBoxLayout(rows_widget)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(2)
        for cls in shown:
            ids = order[cls]
            title = QLabel(f"<b>{class_label(cls).capitalize()}</b> ({len(ids)})")
            row = ClassRow(self.thumb_px)
            for cid in ids[:CELLS_PER_ROW]:
                item = QListWidgetItem(icons[cid], "")
                item.setData(_ID_ROLE, cid)
                item.setToolTip(f"cell {cid}: click to open it in the {class_label(cls)} gallery")
                row.addItem(item)
            row.itemClicked.connect(lambda item: self.cell_chosen.emit(item.data(_ID_ROLE)))
            self.rows[cls] = row
            self.titles[cls] = title
            rows.addWidget(title)
            rows.addWidget(row)
        self._body_layout.replaceWidget(self._rows_widget, rows_widget)
        self._rows_widget.deleteLater()
        self._rows_widget = rows_widget
