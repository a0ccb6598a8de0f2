"""The cell gallery: one tab per class, stained crop beside gray, click to locate, reclassify."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from uvscope.gui.qimage import rgb_to_pixmap
from uvscope.gui.results import DEAD, WBC_CLASSES, CellRow

_CELL_ROLE = Qt.ItemDataRole.UserRole


@dataclass
class CellThumb:
    """A cell with its thumbnail: stained crop and gray crop side by side, (h, 2w, 3) uint8."""

    cell: CellRow
    image: np.ndarray


class CellGallery(QWidget):
    """Emits ``cell_activated`` on a click and ``reclassified(cell, new_class)`` on a review."""

    cell_activated = Signal(object)
    reclassified = Signal(object, str)

    def __init__(
        self,
        classes: tuple[str, ...] = (*WBC_CLASSES, DEAD),
        thumb_px: int = 64,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.classes = classes
        self.tabs = QTabWidget()
        self.lists: dict[str, QListWidget] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self._class_of: dict[str, str] = {}
        for c in classes:
            lw = QListWidget()
            lw.setViewMode(QListWidget.ViewMode.IconMode)
            lw.setIconSize(QSize(2 * thumb_px, thumb_px))
            lw.setResizeMode(QListWidget.ResizeMode.Adjust)
            lw.setMovement(QListWidget.Movement.Static)
            lw.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
            lw.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            lw.itemClicked.connect(self._on_clicked)
            lw.customContextMenuRequested.connect(lambda pos, lw=lw: self._context_menu(lw, pos))
            self.lists[c] = lw
            self.tabs.addTab(lw, c.capitalize())
        self.target = QComboBox()
        self.target.addItems(list(classes))
        self.move_button = QPushButton("Reclassify selected as")
        self.move_button.clicked.connect(self._move_selected)
        row = QHBoxLayout()
        row.addWidget(QLabel("Click a cell to show it in the mosaic."))
        row.addStretch(1)
        row.addWidget(self.move_button)
        row.addWidget(self.target)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tabs)
        lay.addLayout(row)

    # ------------------------------------------------------------------ content
    def add_cells(self, thumbs: list[CellThumb]) -> None:
        for t in thumbs:
            cls = t.cell.cls if t.cell.cls in self.lists else DEAD
            item = QListWidgetItem(QIcon(rgb_to_pixmap(t.image)), f"#{t.cell.cell_id}")
            item.setData(_CELL_ROLE, t.cell)
            item.setToolTip(self._tooltip(t.cell))
            self.lists[cls].addItem(item)
            self._items[t.cell.cell_id] = item
            self._class_of[t.cell.cell_id] = cls
        self._update_tab_titles()

    def clear(self) -> None:
        for lw in self.lists.values():
            lw.clear()
        self._items.clear()
        self._class_of.clear()
        self._update_tab_titles()

    def count(self, cls: str) -> int:
        return self.lists[cls].count()

    def class_of(self, cell_id: str) -> str:
        return self._class_of[cell_id]

    # ------------------------------------------------------------------ review
    def reclassify(self, cell_id: str, new_cls: str) -> None:
        """Move a cell to ``new_cls`` and emit ``reclassified``."""
        if new_cls not in self.lists:
            raise ValueError(f"unknown class {new_cls!r}; choose one of {self.classes}")
        old = self._class_of[cell_id]
        if old == new_cls:
            return
        src = self.lists[old]
        item = src.takeItem(src.row(self._items[cell_id]))
        self.lists[new_cls].addItem(item)
        self._class_of[cell_id] = new_cls
        cell: CellRow = item.data(_CELL_ROLE)
        item.setToolTip(self._tooltip(cell, new_cls))
        self._update_tab_titles()
        self.reclassified.emit(cell, new_cls)

    def _move_selected(self) -> None:
        lw = self.tabs.currentWidget()
        assert isinstance(lw, QListWidget)
        new_cls = self.target.currentText()
        for item in list(lw.selectedItems()):
            self.reclassify(item.data(_CELL_ROLE).cell_id, new_cls)

    def _context_menu(self, lw: QListWidget, pos: object) -> None:
        item = lw.itemAt(pos)  # type: ignore[arg-type]
        if item is None:
            return
        cell: CellRow = item.data(_CELL_ROLE)
        menu = QMenu(self)
        for c in self.classes:
            if c != self._class_of[cell.cell_id]:
                menu.addAction(
                    f"Reclassify as {c}", lambda c=c, cid=cell.cell_id: self.reclassify(cid, c)
                )
        menu.exec(lw.viewport().mapToGlobal(pos))  # type: ignore[arg-type]

    def _on_clicked(self, item: QListWidgetItem) -> None:
        self.cell_activated.emit(item.data(_CELL_ROLE))

    def _update_tab_titles(self) -> None:
        for i, c in enumerate(self.classes):
            self.tabs.setTabText(i, f"{c.capitalize()} ({self.lists[c].count()})")

    @staticmethod
    def _tooltip(cell: CellRow, reviewed: str | None = None) -> str:
        probs = ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(cell.probabilities.items(), key=lambda kv: -kv[1])[:3]
        )
        text = f"cell {cell.cell_id}, tile {cell.tile_index}\npredicted {cell.cls} ({probs})"
        if reviewed and reviewed != cell.cls:
            text += f"\nreviewed: {reviewed}"
        return text + f"\nat x {cell.x_um / 1000:.4f} mm, y {cell.y_um / 1000:.4f} mm"
