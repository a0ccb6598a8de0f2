"""Selected cells side by side, large: is this one a monocyte like that one, or a variant
lymphocyte?

A reviewer picks 2 to 4 cells in the gallery and compares them with class, confidence and size
under each; the gallery's class keys reclassify the cell in focus (click a cell or move with
the arrow keys), through the gallery, so the change is saved and undoable as any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent, QShortcut
from PySide6.QtWidgets import QDialog, QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from uvscope.analysis.review import class_label
from uvscope.gui.qimage import rgb_to_pixmap
from uvscope.gui.results import LOW_CONFIDENCE_P, DisplayCell, cell_confidence

#: how many cells fit side by side and stay large enough to judge granules
MAX_COMPARED = 4
_FOCUS_STYLE = "_CompareCell { border: 3px solid #1f5fbf; }"
_PLAIN_STYLE = "_CompareCell { border: 3px solid transparent; }"


@dataclass
class ComparedCell:
    """A cell to compare: its thumbnail (stained beside gray) and its class now."""

    cell: DisplayCell
    image: np.ndarray
    label: str


def size_text(cell: DisplayCell, pixel_size_um: float | None) -> str:
    """The cell's box, in micrometres where the pixel size is known."""
    r0, c0, r1, c1 = cell.bbox
    w_px, h_px = c1 - c0, r1 - r0
    if pixel_size_um:
        return f"{w_px * pixel_size_um:.1f} x {h_px * pixel_size_um:.1f} µm"
    return f"{w_px} x {h_px} px"


class _CompareCell(QFrame):
    """One column: the cell large, its class, confidence and size; framed when in focus."""

    def __init__(self, shown: ComparedCell, pixel_size_um: float | None) -> None:
        super().__init__()
        self.shown = shown
        self.pixel_size_um = pixel_size_um
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setStyleSheet(_PLAIN_STYLE)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(160, 80)
        self.info = QLabel()
        self.info.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        lay = QVBoxLayout(self)
        lay.addWidget(self.image, 1)
        lay.addWidget(self.info)
        self.refresh()

    def refresh(self) -> None:
        cell, label = self.shown.cell, self.shown.label
        p = cell_confidence(cell)
        low = ' <b style="color:#b00">low</b>' if p < LOW_CONFIDENCE_P else ""
        changed = (
            f"<br>predicted {class_label(cell.cls)}, <b>reviewed</b>" if label != cell.cls else ""
        )
        self.info.setText(
            f"<b>{class_label(label).capitalize()}</b>{changed}<br>"
            f"p = {p:.2f}{low}<br>{size_text(cell, self.pixel_size_um)}<br>cell {cell.cell_id}"
        )
        self._draw()

    def _draw(self) -> None:
        pix = rgb_to_pixmap(self.shown.image)
        self.image.setPixmap(
            pix.scaled(
                self.image.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )
        )

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._draw()

    def focusInEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        self.setStyleSheet(_FOCUS_STYLE)
        super().focusInEvent(event)  # type: ignore[arg-type]

    def focusOutEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        self.setStyleSheet(_PLAIN_STYLE)
        super().focusOutEvent(event)  # type: ignore[arg-type]

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self.setFocus()
        super().mousePressEvent(event)


class CompareView(QDialog):
    """Emits ``reclassify_requested(cell_id, class)`` for a class key (``hotkeys``: key ->
    class) on the cell in focus, ``undo_requested``/``redo_requested`` for Ctrl+Z/Ctrl+Shift+Z."""

    reclassify_requested = Signal(str, str)
    undo_requested = Signal()
    redo_requested = Signal()

    def __init__(
        self,
        cells: list[ComparedCell],
        hotkeys: dict[str, str],
        pixel_size_um: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        if not 2 <= len(cells) <= MAX_COMPARED:
            raise ValueError(f"compare 2 to {MAX_COMPARED} cells, not {len(cells)}")
        self.setWindowTitle(f"Compare {len(cells)} cells")
        self.hotkeys = hotkeys
        self.columns = [_CompareCell(c, pixel_size_um) for c in cells]
        row = QHBoxLayout()
        for col in self.columns:
            row.addWidget(col, 1)
        keys = ", ".join(f"{k} {class_label(c)}" for k, c in hotkeys.items())
        hint = QLabel(
            "Click a cell (or move with the arrow keys), then press a class key to reclassify "
            f"it; Ctrl+Z undoes. Keys: {keys}"
        )
        hint.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(row, 1)
        lay.addWidget(hint)
        for key, signal in (
            ("Ctrl+Z", self.undo_requested),
            ("Ctrl+Shift+Z", self.redo_requested),
            ("Ctrl+Y", self.redo_requested),
        ):
            QShortcut(QKeySequence(key), self).activated.connect(signal.emit)
        self.resize(300 * len(cells), 420)
        self.columns[0].setFocus()

    def cell_ids(self) -> list[str]:
        return [c.shown.cell.cell_id for c in self.columns]

    def labels(self) -> list[str]:
        return [c.shown.label for c in self.columns]

    def focused(self) -> int:
        """The column in focus (the first when none is)."""
        for i, col in enumerate(self.columns):
            if col.hasFocus():
                return i
        return 0

    def set_label(self, cell_id: str, label: str) -> None:
        """A cell's class changed (here, in the gallery, or by an undo): show it."""
        for col in self.columns:
            if col.shown.cell.cell_id == cell_id:
                col.shown.label = label
                col.refresh()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        step = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}.get(Qt.Key(event.key()))
        if step is not None:
            i = (self.focused() + step) % len(self.columns)
            self.columns[i].setFocus()
            return
        plain = not event.modifiers() & ~(
            Qt.KeyboardModifier.KeypadModifier | Qt.KeyboardModifier.ShiftModifier
        )
        cls = self.hotkeys.get(event.text().upper())
        if cls is not None and plain:
            self.reclassify_requested.emit(self.columns[self.focused()].shown.cell.cell_id, cls)
            return
        super().keyPressEvent(event)
