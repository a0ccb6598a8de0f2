"""The cell gallery, as on a clinical review station.

A class list on the left (every class visible, with its count: no tabs hidden behind scroll
arrows), the cells of the chosen class sorted by confidence, least sure first and flagged in
red, an enlarged view of the selected cell with where it lies, and one key per class to
reclassify the selection (the next cell is selected, so a reviewer can go through a class
with the keyboard alone). Classes outside the five-part differential (band neutrophil, blast,
smudge, artefact, unidentified) are review-only: the analysis never gives them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from uvscope.analysis.review import class_label
from uvscope.gui.all_classes import AllClassesPage
from uvscope.gui.cell_detail import CellDetail
from uvscope.gui.compare import MAX_COMPARED, ComparedCell, CompareView
from uvscope.gui.qimage import rgb_to_pixmap
from uvscope.gui.reference_cells import ReferenceStrip
from uvscope.gui.results import (
    DEAD,
    LOW_CONFIDENCE_P,
    OUTSIDE_CLASSES,
    REVIEW_CLASSES,
    DisplayCell,
    cell_confidence,
)
from uvscope.models.reference_cells import ReferenceCells

_CELL_ROLE = Qt.ItemDataRole.UserRole
#: one key per class: digits in the report's order, D for dead
HOTKEYS: dict[str, str] = {
    "1": "neutrophil",
    "2": "eosinophil",
    "3": "basophil",
    "4": "lymphocyte",
    "5": "monocyte",
    "D": "dead",
    "6": "band_neutrophil",
    "7": "blast",
    "8": "smudge",
    "9": "artefact",
    "0": "unidentified",
    "M": "metamyelocyte",
    "Y": "myelocyte",
    "P": "promyelocyte",
    "V": "variant_lymphocyte",
    "C": "plasma_cell",
    "N": "nrbc",
}
_KEY_OF = {cls: key for key, cls in HOTKEYS.items()}
LOW_MARK_RGB = (210, 0, 0)
REVIEWED_MARK_RGB = (255, 196, 0)
#: selection drawn as a frame around the thumbnail, never a tint over it (colour is morphology)
SELECTION_STYLE = (
    "QListWidget::item:selected { background: transparent; border: 3px solid #1f5fbf; }"
    "QListWidget::item:selected:!active { border: 3px solid #7a9cd6; }"
    "QListWidget::item:hover { background: transparent; }"
)
_PLAIN = Qt.KeyboardModifier.KeypadModifier | Qt.KeyboardModifier.ShiftModifier


def move_item(src: QListWidget, dst: QListWidget, item: QListWidgetItem) -> QListWidgetItem:
    """``item`` taken out of ``src`` into ``dst``, kept in order (a gallery's reclassify)."""
    moved = src.takeItem(src.row(item))
    dst.addItem(moved)
    dst.sortItems()
    return moved


def reclassify_selection(lw: QListWidget, reclassify: Callable[[QListWidgetItem], None]) -> None:
    """``reclassify`` each selected item of ``lw``, then select the one after them, so a
    reviewer goes on with the keys."""
    items = lw.selectedItems()
    if not items:
        return
    next_row = min(lw.row(i) for i in items)
    for item in list(items):
        reclassify(item)
    if lw.count():
        lw.setCurrentRow(min(next_row, lw.count() - 1))
    lw.setFocus()


@dataclass
class CellThumb:
    """A cell with its thumbnail: stained crop and gray crop side by side, (h, 2w, 3) uint8."""

    cell: DisplayCell
    image: np.ndarray


class _ClassList(QListWidget):
    """The classes, each in view where the screen allows (a reviewer moves between classes by
    this list), at least 8 on a laptop; the panel's table and chart below get the rest.
    Sized from the rows as shown (a row's height is known only once the style is applied)."""

    def __init__(self) -> None:
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def _rows_px(self, rows: int) -> int:
        return self.sizeHintForRow(0) * rows + 2 * self.frameWidth() + 4

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(super().sizeHint().width(), self._rows_px(self.count()))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(super().minimumSizeHint().width(), self._rows_px(min(8, self.count())))


class _CellItem(QListWidgetItem):
    """Sorts by confidence (least sure first), then by id, so the order is stable."""

    def __init__(self, icon: QIcon, text: str, cell: DisplayCell) -> None:
        super().__init__(icon, text)
        self.key = (cell_confidence(cell), cell.cell_id)

    def __lt__(self, other: QListWidgetItem) -> bool:
        return self.key < getattr(other, "key", self.key)


def reviewed_mark(image: np.ndarray) -> np.ndarray:
    """The thumbnail with a corner tab (top right, over the gray half: the stained cell stays
    as it is) saying a reviewer changed the cell's class."""
    out = image.copy()
    h = image.shape[0]
    n = max(8, h // 5)
    rows = np.arange(n)[:, None]
    cols = np.arange(n)[None, :]
    tab = cols >= rows  # the upper-right triangle
    corner = out[:n, -n:]
    corner[tab] = REVIEWED_MARK_RGB
    return out


def marked(image: np.ndarray, low: bool, reviewed: bool = False) -> np.ndarray:
    """The thumbnail, framed in red when the cell is low-confidence, tabbed when reviewed."""
    if reviewed:
        image = reviewed_mark(image)
    if not low:
        return image
    out = image.copy()
    b = max(2, image.shape[0] // 24)
    out[:b], out[-b:], out[:, :b], out[:, -b:] = (
        LOW_MARK_RGB,
        LOW_MARK_RGB,
        LOW_MARK_RGB,
        LOW_MARK_RGB,
    )
    return out


def thumb_icon(image: np.ndarray) -> QIcon:
    """The same picture selected or not: Qt would tint a selected icon with the highlight
    colour, and a tinted cell is a different cell to a morphologist."""
    pix = rgb_to_pixmap(image)
    icon = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
        icon.addPixmap(pix, mode)
    return icon


class CellGallery(QWidget):
    """Emits ``cell_activated`` to show a cell in the mosaic, ``reclassified(cell, class)``,
    and ``undo_requested``/``redo_requested`` for Ctrl+Z/Ctrl+Shift+Z in a comparison."""

    cell_activated = Signal(object)
    reclassified = Signal(object, str)
    undo_requested = Signal()
    redo_requested = Signal()

    def __init__(
        self,
        classes: tuple[str, ...] = REVIEW_CLASSES,
        thumb_px: int = 56,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.classes = classes
        self.class_list = _ClassList()
        self.class_list.setMinimumWidth(140)
        self.stack = QStackedWidget()
        self.lists: dict[str, QListWidget] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self._class_of: dict[str, str] = {}
        self._thumbs: dict[str, np.ndarray] = {}
        self._low: set[str] = set()  #: ids of the low-confidence cells
        self._reviewed_ids: set[str] = set()  #: ids of the cells a reviewer moved
        for c in classes:
            self.class_list.addItem(QListWidgetItem(class_label(c).capitalize()))
            self.stack.addWidget(self._make_list(c, thumb_px))
        self.class_list.currentRowChanged.connect(self._on_class_changed)
        self.class_list.itemClicked.connect(lambda _item: self.show_overview(False))
        self.detail = CellDetail()
        self.detail.locate.connect(self.cell_activated.emit)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(48, 160)
        self.size_slider.setValue(thumb_px)
        self.size_slider.setToolTip("Thumbnail size")
        self.size_slider.valueChanged.connect(self.set_thumb_px)
        self.buttons: dict[str, QToolButton] = {}
        #: the pixel size of the scan's tiles, for cell sizes in µm (None: sizes in pixels)
        self.pixel_size_um: float | None = None
        self.compare_view: CompareView | None = None
        self.compare_button = QToolButton()
        self.compare_button.setText("Compare selected (Ctrl+Shift+C)")
        self.compare_button.setToolTip(
            f"Select 2 to {MAX_COMPARED} cells (Ctrl- or Shift-click), then compare them "
            "large, side by side"
        )
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self.compare_selected)
        compare_key = QShortcut(QKeySequence("Ctrl+Shift+C"), self)
        compare_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        compare_key.activated.connect(self.compare_selected)
        self.overview = AllClassesPage()
        self.overview.cell_chosen.connect(self._open_from_overview)
        self.overview_button = QToolButton()
        self.overview_button.setText("All classes")
        self.overview_button.setCheckable(True)
        self.overview_button.setToolTip("A row of cells per class: click a cell to open its class")
        self.overview_button.toggled.connect(self.show_overview)
        self.middle = QStackedWidget()
        self.middle.addWidget(self.stack)
        self.middle.addWidget(self.overview)
        self.references = ReferenceStrip()
        self.references_button = QToolButton()
        self.references_button.setText("Reference cells")
        self.references_button.setCheckable(True)
        self.references_button.setChecked(True)
        self.references_button.setToolTip(
            "Typical cells of the class shown, under the gallery: the lab's own (lab settings, "
            "reference_cells) or the built-in simulated ones"
        )
        self.references_button.toggled.connect(self.references.setVisible)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        #: the left column: the class list, and below it what the panel adds (the differential)
        self.left = QWidget()
        self.left_layout = QVBoxLayout(self.left)
        self.left_layout.setContentsMargins(0, 0, 0, 0)
        self.left_layout.addWidget(self.class_list)
        # the views' buttons over the cells: the side columns have no height to spare on a laptop
        toggles = QHBoxLayout()
        toggles.setContentsMargins(0, 0, 0, 2)
        toggles.addWidget(self.overview_button)
        toggles.addWidget(self.references_button)
        toggles.addWidget(self.compare_button)
        toggles.addStretch(1)
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(0)
        centre_layout.addLayout(toggles)
        centre_layout.addWidget(self.middle, 1)
        centre_layout.addWidget(self.references)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.left)
        split.addWidget(centre)
        detail = self._detail_column()
        detail.setMaximumWidth(260)
        split.addWidget(detail)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 0)
        split.setCollapsible(1, False)
        split.setSizes([260, 400, 240])
        self.split = split
        lay.addWidget(split, 1)
        self._list_set = set(self.lists.values())
        for lw in self.lists.values():
            lw.installEventFilter(self)
        self._update_titles()
        self.class_list.setCurrentRow(0)
        self._update_compare_button()

    def _make_list(self, cls: str, thumb_px: int) -> QListWidget:
        lw = QListWidget()
        lw.setViewMode(QListWidget.ViewMode.IconMode)
        lw.setIconSize(QSize(2 * thumb_px, thumb_px))
        lw.setResizeMode(QListWidget.ResizeMode.Adjust)
        lw.setMovement(QListWidget.Movement.Static)
        lw.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        lw.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        lw.setStyleSheet(SELECTION_STYLE)
        lw.currentItemChanged.connect(self._on_current)
        lw.itemSelectionChanged.connect(self._update_compare_button)
        lw.itemDoubleClicked.connect(lambda item: self.cell_activated.emit(item.data(_CELL_ROLE)))
        lw.customContextMenuRequested.connect(lambda pos, lw=lw: self._context_menu(lw, pos))
        self.lists[cls] = lw
        return lw

    def _detail_column(self) -> QWidget:
        grid = QGridLayout()
        grid.setSpacing(2)
        for i, cls in enumerate(self.classes):
            key = _KEY_OF.get(cls, "")
            b = QToolButton()
            b.setText(f"{key}  {class_label(cls)}" if key else class_label(cls))
            b.setToolTip(f"Reclassify the selected cells as {class_label(cls)} (key {key})")
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, c=cls: self.reclassify_selected(c))
            self.buttons[cls] = b
            grid.addWidget(b, i // 2, i % 2)
        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Size"))
        size_row.addWidget(self.size_slider, 1)
        col = QWidget()
        lay = QVBoxLayout(col)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.detail, 1)
        lay.addWidget(QLabel("Reclassify selected (key):"))
        lay.addLayout(grid)
        lay.addLayout(size_row)
        return col

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """A class key pressed in a cell list reclassifies its selection (lists only: a key
        typed into another field never changes a cell)."""
        if event.type() == QEvent.Type.KeyPress and watched in self._list_set:
            assert isinstance(event, QKeyEvent)
            cls = HOTKEYS.get(event.text().upper())
            if cls is not None and cls in self.lists and not event.modifiers() & ~_PLAIN:
                self.reclassify_selected(cls)
                return True
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------------ content
    def add_cells(self, thumbs: list[CellThumb]) -> None:
        touched = set()
        for t in thumbs:
            cls = t.cell.cls if t.cell.cls in self.lists else DEAD
            item = self._make_item(t.cell, t.image)
            self.lists[cls].addItem(item)
            self._items[t.cell.cell_id] = item
            self._class_of[t.cell.cell_id] = cls
            self._thumbs[t.cell.cell_id] = t.image
            if cell_confidence(t.cell) < LOW_CONFIDENCE_P:
                self._low.add(t.cell.cell_id)
            touched.add(cls)
        for cls in touched:
            self.lists[cls].sortItems()
        self._update_titles()
        if self.overview_button.isChecked():
            self._fill_overview()  # a live scan's cells join their rows

    def _make_item(self, cell: DisplayCell, image: np.ndarray) -> _CellItem:
        p = cell_confidence(cell)
        low = p < LOW_CONFIDENCE_P
        item = _CellItem(thumb_icon(marked(image, low)), f"p {p:.2f}" + (" !" if low else ""), cell)
        item.setData(_CELL_ROLE, cell)
        item.setToolTip(self._tooltip(cell))
        if low:
            item.setForeground(Qt.GlobalColor.red)
        return item

    def mark_reviewed(self, cell_id: str, reviewed: bool) -> None:
        """Tab the thumbnail of a cell a reviewer moved (and untab it when moved back)."""
        item = self._items.get(cell_id)
        if item is None:
            return
        cell: DisplayCell = item.data(_CELL_ROLE)
        low = cell_id in self._low
        item.setIcon(thumb_icon(marked(self._thumbs[cell_id], low, reviewed)))
        p = cell_confidence(cell)
        item.setText(f"p {p:.2f}" + (" !" if low else "") + (" R" if reviewed else ""))
        self._reviewed_ids.discard(cell_id)
        if reviewed:
            self._reviewed_ids.add(cell_id)

    def is_marked(self, cell_id: str) -> bool:
        return cell_id in self._reviewed_ids

    def clear(self) -> None:
        # forget the items before the lists delete them: deleting the current one signals
        # currentItemChanged, whose slot must not reach a deleted item
        self._reviewed_ids.clear()
        if self.compare_view is not None:
            self.compare_view.close()
            self.compare_view = None
        self._items.clear()
        self._class_of.clear()
        self._thumbs.clear()
        self._low.clear()
        for lw in self.lists.values():
            lw.clear()
        self.detail.show_cell(None, None, "", [])
        self._update_titles()

    def count(self, cls: str) -> int:
        return self.lists[cls].count()

    def class_of(self, cell_id: str) -> str:
        return self._class_of[cell_id]

    def cells(self) -> list[DisplayCell]:
        return [item.data(_CELL_ROLE) for item in self._items.values()]

    def order(self, cls: str) -> list[str]:
        """Cell ids of a class in the order shown."""
        lw = self.lists[cls]
        return [lw.item(i).data(_CELL_ROLE).cell_id for i in range(lw.count())]

    def current_class(self) -> str:
        return self.classes[max(self.class_list.currentRow(), 0)]

    def show_class(self, cls: str) -> None:
        self.class_list.setCurrentRow(self.classes.index(cls))

    def select(self, cell_id: str) -> None:
        """Select a cell (switching to its class), as a click would."""
        cls = self._class_of[cell_id]
        self.show_class(cls)
        self.lists[cls].setCurrentItem(self._items[cell_id])

    def set_thumb_px(self, px: int) -> None:
        for lw in self.lists.values():
            lw.setIconSize(QSize(2 * px, px))

    # ------------------------------------------------------------------ review
    def reclassify(self, cell_id: str, new_cls: str) -> None:
        """Move a cell to ``new_cls`` and emit ``reclassified``."""
        if new_cls not in self.lists:
            raise ValueError(f"unknown class {new_cls!r}; choose one of {self.classes}")
        old = self._class_of[cell_id]
        if old == new_cls:
            return
        item = move_item(self.lists[old], self.lists[new_cls], self._items[cell_id])
        self._class_of[cell_id] = new_cls
        cell: DisplayCell = item.data(_CELL_ROLE)
        item.setToolTip(self._tooltip(cell, new_cls))
        self.mark_reviewed(cell_id, new_cls != cell.cls)
        self._update_titles()
        self.reclassified.emit(cell, new_cls)
        if self.compare_view is not None:
            self.compare_view.set_label(cell_id, new_cls)
        if self.overview_button.isChecked():
            self._fill_overview()

    def reclassify_selected(self, new_cls: str) -> None:
        """Reclassify the selection of the shown class, then select the cell after it."""
        lw = self.lists[self.current_class()]
        reclassify_selection(lw, lambda i: self.reclassify(i.data(_CELL_ROLE).cell_id, new_cls))

    def _context_menu(self, lw: QListWidget, pos: QPoint) -> None:
        item = lw.itemAt(pos)
        if item is None:
            return
        cell: DisplayCell = item.data(_CELL_ROLE)
        menu = QMenu(self)
        for c in self.classes:
            if c != self._class_of[cell.cell_id]:

                def reclassify_as(c: str = c, cid: str = cell.cell_id) -> None:
                    self.reclassify(cid, c)

                menu.addAction(f"Reclassify as {class_label(c)}", reclassify_as)
        menu.addAction("Show in mosaic", lambda: self.cell_activated.emit(cell))
        menu.exec(lw.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------------ overview, compare
    def show_overview(self, on: bool = True) -> None:
        """Show the all-classes page (``on``) or the cells of the chosen class."""
        if on:
            self._fill_overview()
        self.middle.setCurrentWidget(self.overview if on else self.stack)
        # the references are of one class: not beside every class's row
        self.references.setVisible(not on and self.references_button.isChecked())
        if self.overview_button.isChecked() != on:
            self.overview_button.setChecked(on)

    def _fill_overview(self) -> None:
        icons = {cid: item.icon() for cid, item in self._items.items()}
        self.overview.show_classes(self.classes, {c: self.order(c) for c in self.classes}, icons)

    def _open_from_overview(self, cell_id: str) -> None:
        self.show_overview(False)
        self.lists[self._class_of[cell_id]].clearSelection()
        self.select(cell_id)
        self.lists[self._class_of[cell_id]].setFocus()

    def selected_ids(self) -> list[str]:
        """The cells selected in the class shown, in the order shown."""
        lw = self.lists[self.current_class()]
        items = sorted(lw.selectedItems(), key=lw.row)
        return [i.data(_CELL_ROLE).cell_id for i in items]

    def _update_compare_button(self) -> None:
        n = len(self.selected_ids())
        self.compare_button.setEnabled(2 <= n <= MAX_COMPARED)

    def compare_selected(self) -> CompareView | None:
        """Open the selected cells (2 to 4) side by side; None when the selection does not fit."""
        ids = self.selected_ids()
        if not 2 <= len(ids) <= MAX_COMPARED:
            return None
        shown = [ComparedCell(self._cell(i), self._thumbs[i], self._class_of[i]) for i in ids]
        if self.compare_view is not None:
            self.compare_view.close()
        keys = {k: c for k, c in HOTKEYS.items() if c in self.lists}
        view = CompareView(shown, keys, self.pixel_size_um, self)
        view.reclassify_requested.connect(self.reclassify)
        view.undo_requested.connect(self.undo_requested.emit)
        view.redo_requested.connect(self.redo_requested.emit)
        self.compare_view = view
        view.show()
        return view

    def set_references(self, refs: ReferenceCells) -> None:
        """The reference cells to show beside each class (see ``choose_reference_cells``)."""
        self.references.set_references(refs)

    def _cell(self, cell_id: str) -> DisplayCell:
        cell: DisplayCell = self._items[cell_id].data(_CELL_ROLE)
        return cell

    def _on_class_changed(self, row: int) -> None:
        if row < 0:
            return
        if self.overview_button.isChecked():
            self.show_overview(False)
        self.stack.setCurrentIndex(row)
        self.references.show_class(self.classes[row])
        self._on_current(self.lists[self.classes[row]].currentItem())

    def _on_current(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            self.detail.show_cell(None, None, "", self.cells())
            return
        cell: DisplayCell = item.data(_CELL_ROLE)
        label = self._class_of.get(cell.cell_id, cell.cls)
        self.detail.show_cell(cell, self._thumbs.get(cell.cell_id), label, self.cells())

    def _update_titles(self) -> None:
        low = dict.fromkeys(self.classes, 0)
        for cell_id in self._low:
            low[self._class_of[cell_id]] += 1
        for i, c in enumerate(self.classes):
            extra = f", {low[c]} low" if low[c] else ""
            apart = " *" if c in OUTSIDE_CLASSES else ""
            item = self.class_list.item(i)
            item.setText(f"{class_label(c).capitalize()} ({self.lists[c].count()}{extra}){apart}")
            item.setToolTip("outside the five-part differential: counted apart" if apart else "")

    @staticmethod
    def _tooltip(cell: DisplayCell, reviewed: str | None = None) -> str:
        probs = ", ".join(
            f"{class_label(k)} {v:.2f}"
            for k, v in sorted(cell.probabilities.items(), key=lambda kv: -kv[1])[:3]
        )
        text = f"cell {cell.cell_id}, tile {cell.tile_index}\npredicted {cell.cls} ({probs})"
        if reviewed and reviewed != cell.cls:
            text += f"\nreviewed: {class_label(reviewed)}"
        return text + f"\nat x {cell.x_um / 1000:.4f} mm, y {cell.y_um / 1000:.4f} mm"
