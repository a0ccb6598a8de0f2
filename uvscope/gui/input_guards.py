"""Input hazards removed: a scroll over a form never changes a value.

Qt's spin boxes and combo boxes take the mouse wheel whenever the pointer is over them, so
scrolling down the set-up form silently changed exposures. Guarded, they take the wheel
only once focused (clicked or tabbed into); otherwise it scrolls the form as expected.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QWidget

_GUARDED = (QAbstractSpinBox, QComboBox)


class WheelGuard(QObject):
    """Event filter: a wheel event over an unfocused spin/combo box goes to its parent."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget):
            if not watched.hasFocus():
                event.ignore()  # not accepted: Qt passes it on to the scroll area
                return True
        return False


def guard_wheel(root: QWidget, guard: WheelGuard | None = None) -> WheelGuard:
    """Guard every spin and combo box under ``root`` (and make the wheel not focus them)."""
    guard = guard or WheelGuard(root)
    for kind in _GUARDED:
        for w in root.findChildren(kind):
            w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            w.installEventFilter(guard)
    return guard
