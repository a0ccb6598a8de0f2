"""The red-cell and platelet gallery, reviewed as the WBC gallery is.

A class list on the left (every morphology class, single platelets, clumps and "not a red
cell", each with its count), the objects of the chosen class least sure first (nearest a
threshold of the rule set, framed in red), an enlarged view of the selected one, and one key
per class: the selection is reclassified and the next object selected.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from uvscope.analysis.rbc_review import (
    NOT_RED_CELL,
    PLATELET,
    PLATELET_CLUMP,
    RBC_REVIEW_CLASSES,
    SmearObject,
    shown_objects,
)
from uvscope.classes import RBC_CLASSES
from uvscope.gui.gallery import LOW_MARK_RGB, move_item, reclassify_selection
from uvscope.gui.qimage import rgb_to_pixmap

_OBJ_ROLE = Qt.ItemDataRole.UserRole
#: one key per class: digits in the report's order, P platelet, C clump, N not a red cell
RBC_HOTKEYS: dict[str, str] = {
    **{str(i + 1): name for i, name in enumerate(RBC_CLASSES)},
    "P": PLATELET,
    "C": PLATELET_CLUMP,
    "N": NOT_RED_CELL,
}
_KEY_OF = {cls: key for key, cls in RBC_HOTKEYS.items()}
_PLAIN = Qt.KeyboardModifier.KeypadModifier | Qt.KeyboardModifier.ShiftModifier
#: thumbnails shown per class (least sure first); the counts cover every object
MAX_SHOWN = 400
ENLARGED_PX = 120


def rbc_class_label(name: str) -> str:
    return {NOT_RED_CELL: "not a red cell"}.get(name, name.replace("_", " "))


def framed(gray: np.ndarray, low: bool) -> np.ndarray:
    """The gray crop as RGB, framed in red when the object is borderline."""
    rgb = np.repeat(gray[..., None], 3, axis=2)
    if low:
        b = max(2, gray.shape[0] // 24)
        for sl in (np.s_[:b], np.s_[-b:], np.s_[:, :b], np.s_[:, -b:]):
            rgb[sl] = LOW_MARK_RGB
    return rgb


class _ObjItem(QListWidgetItem):
    """Sorts least sure first, then by id, so the order is stable."""

    def __init__(self, icon: QIcon, text: str, obj: SmearObject) -> None:
        super().__init__(icon, text)
        self.key = (float(obj.margin), obj.object_id)

    def __lt__(self, other: QListWidgetItem) -> bool:
        return bool(self.key < getattr(other, "key", self.key))


class RbcGallery(QWidget):
    """Emits ``reclassified(object, class)`` when a reviewer moves an object and
    ``cell_activated(object)`` on a double-click (to show where it lies in the mosaic)."""

    reclassified = Signal(object, str)
    cell_activated = Signal(object)

    def __init__(self, thumb_px: int = 48, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = RBC_REVIEW_CLASSES
        self.class_list = QListWidget()
        self.stack = QStackedWidget()
        self.lists: dict[str, QListWidget] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self._class_of: dict[str, str] = {}
        self._thumbs: dict[str, np.ndarray] = {}
        self._totals: dict[str, int] = dict.fromkeys(self.classes, 0)
        for c in self.classes:
            self.class_list.addItem(QListWidgetItem(rbc_class_label(c).capitalize()))
            self.stack.addWidget(self._make_list(c, thumb_px))
        self.class_list.currentRowChanged.connect(self._on_class_changed)
        self.class_list.setMaximumWidth(150)
        self.enlarged = QLabel("Select a cell")
        self.enlarged.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.enlarged.setMinimumSize(ENLARGED_PX, ENLARGED_PX)
        #: what the shown list holds (thumbnails are capped per class)
        self.shown_label = QLabel("")
        self.shown_label.setWordWrap(True)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.buttons: dict[str, QToolButton] = {}
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.class_list)
        middle = QWidget()
        mid = QVBoxLayout(middle)
        mid.setContentsMargins(0, 0, 0, 0)
        mid.addWidget(self.shown_label)
        mid.addWidget(self.stack, 1)
        split.addWidget(middle)
        split.addWidget(self._detail_column())
        split.setStretchFactor(1, 1)
        split.setCollapsible(1, False)
        split.setSizes([125, 400, 190])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split, 1)
        self._list_set = set(self.lists.values())
        for lw in self.lists.values():
            lw.installEventFilter(self)
        self._update_titles()
        self.class_list.setCurrentRow(0)

    def _make_list(self, cls: str, thumb_px: int) -> QListWidget:
        lw = QListWidget()
        lw.setViewMode(QListWidget.ViewMode.IconMode)
        lw.setIconSize(QSize(thumb_px, thumb_px))
        lw.setGridSize(QSize(thumb_px + 8, thumb_px + 8))  # no caption under the thumbnail
        lw.setResizeMode(QListWidget.ResizeMode.Adjust)
        lw.setMovement(QListWidget.Movement.Static)
        lw.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        lw.currentItemChanged.connect(self._on_current)
        lw.itemDoubleClicked.connect(lambda item: self.cell_activated.emit(item.data(_OBJ_ROLE)))
        lw.setToolTip("Double-click: show in the mosaic")
        self.lists[cls] = lw
        return lw

    def _detail_column(self) -> QWidget:
        grid = QGridLayout()
        grid.setSpacing(2)
        for i, cls in enumerate(self.classes):
            key = _KEY_OF[cls]
            b = QToolButton()
            b.setText(f"{key}  {rbc_class_label(cls)}")
            b.setToolTip(f"Reclassify the selected objects as {rbc_class_label(cls)} (key {key})")
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, c=cls: self.reclassify_selected(c))
            self.buttons[cls] = b
            grid.addWidget(b, i, 0)
        col = QWidget()
        col.setMaximumWidth(220)
        lay = QVBoxLayout(col)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.enlarged)
        lay.addWidget(self.info)
        lay.addStretch(1)
        lay.addWidget(QLabel("Reclassify selected (key):"))
        lay.addLayout(grid)
        return col

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """A class key pressed in a list reclassifies its selection (lists only)."""
        if event.type() == QEvent.Type.KeyPress and watched in self._list_set:
            assert isinstance(event, QKeyEvent)
            cls = RBC_HOTKEYS.get(event.text().upper())
            if cls is not None and not event.modifiers() & ~_PLAIN:
                self.reclassify_selected(cls)
                return True
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------------ content
    def set_objects(
        self,
        objects: list[SmearObject],
        thumbs: dict[str, np.ndarray],
        labels: dict[str, str],
    ) -> None:
        """Count every object under its current label and show the ``MAX_SHOWN`` least sure
        of each class that have a thumbnail; ``labels``: object id -> current label."""
        self.clear()
        for o in objects:
            self._totals[labels.get(o.object_id, o.predicted)] += 1
        for o in shown_objects(objects, labels, MAX_SHOWN):
            cls = labels.get(o.object_id, o.predicted)
            image = thumbs.get(o.object_id)
            if image is None:
                continue
            item = _ObjItem(QIcon(rgb_to_pixmap(framed(image, o.borderline))), "", o)
            item.setData(_OBJ_ROLE, o)
            item.setToolTip(self._tooltip(o, cls))
            self.lists[cls].addItem(item)
            self._items[o.object_id] = item
            self._class_of[o.object_id] = cls
            self._thumbs[o.object_id] = image
        for lw in self.lists.values():
            lw.sortItems()
        self._update_titles()
        self._on_class_changed(self.class_list.currentRow())

    def clear(self) -> None:
        for lw in self.lists.values():
            lw.clear()
        self._items.clear()
        self._class_of.clear()
        self._thumbs.clear()
        self._totals = dict.fromkeys(self.classes, 0)
        self.enlarged.clear()
        self.enlarged.setText("Select a cell")
        self.info.setText("")
        self._update_titles()

    def count(self, cls: str) -> int:
        """Objects shown in a class."""
        return self.lists[cls].count()

    def order(self, cls: str) -> list[str]:
        lw = self.lists[cls]
        return [lw.item(i).data(_OBJ_ROLE).object_id for i in range(lw.count())]

    def current_class(self) -> str:
        return self.classes[max(self.class_list.currentRow(), 0)]

    def show_class(self, cls: str) -> None:
        self.class_list.setCurrentRow(self.classes.index(cls))

    def select(self, object_id: str) -> None:
        cls = self._class_of[object_id]
        self.show_class(cls)
        self.lists[cls].setCurrentItem(self._items[object_id])

    # ------------------------------------------------------------------ review
    def reclassify(self, object_id: str, new_cls: str) -> None:
        if new_cls not in self.lists:
            raise ValueError(f"unknown class {new_cls!r}; choose one of {self.classes}")
        old = self._class_of[object_id]
        if old == new_cls:
            return
        item = move_item(self.lists[old], self.lists[new_cls], self._items[object_id])
        self._class_of[object_id] = new_cls
        self._totals[old] -= 1
        self._totals[new_cls] += 1
        obj: SmearObject = item.data(_OBJ_ROLE)
        item.setToolTip(self._tooltip(obj, new_cls))
        self._update_titles()
        self.reclassified.emit(obj, new_cls)

    def reclassify_selected(self, new_cls: str) -> None:
        """Reclassify the selection of the shown class, then select the object after it."""
        lw = self.lists[self.current_class()]
        reclassify_selection(lw, lambda i: self.reclassify(i.data(_OBJ_ROLE).object_id, new_cls))

    def _on_class_changed(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        self._update_shown()
        self._on_current(self.lists[self.classes[row]].currentItem())

    def _on_current(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            self.enlarged.clear()
            self.enlarged.setText("Select a cell")
            self.info.setText("")
            return
        obj: SmearObject = item.data(_OBJ_ROLE)
        image = self._thumbs[obj.object_id]
        pix = rgb_to_pixmap(framed(image, False))
        self.enlarged.setPixmap(
            pix.scaled(ENLARGED_PX, ENLARGED_PX, Qt.AspectRatioMode.KeepAspectRatio)
        )
        self.info.setText(self._tooltip(obj, self._class_of[obj.object_id]))

    def _update_titles(self) -> None:
        for i, c in enumerate(self.classes):
            self.class_list.item(i).setText(
                f"{rbc_class_label(c).capitalize()} ({self._totals[c]})"
            )
        self._update_shown()

    def _update_shown(self) -> None:
        c = self.current_class()
        shown, total = self.lists[c].count(), self._totals[c]
        capped = f"{shown} of {total} shown, " if shown < total else ""
        self.shown_label.setText(f"{capped}least sure first (red frame: borderline)")

    @staticmethod
    def _tooltip(obj: SmearObject, label: str) -> str:
        text = f"{obj.object_id}, tile {obj.tile}\nanalysis: {rbc_class_label(obj.predicted)}"
        if label != obj.predicted:
            text += f"\nreviewed: {rbc_class_label(label)}"
        if obj.borderline:
            text += "\nborderline: a measure lies near a rule's threshold"
        return text + f"\n{obj.summary}"
