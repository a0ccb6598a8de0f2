"""A non-modal banner that shows an error with what to do next (the window keeps working)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from uvscope.gui.advice import describe


class ErrorBanner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet("ErrorBanner { background: #fdecea; border: 1px solid #c0392b; }")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setStyleSheet("color: #7b241c;")
        close = QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.messages: list[str] = []
        self.hide()

    def show_error(self, what: str, err: BaseException) -> None:
        self.show_message(describe(what, err))

    def show_message(self, text: str) -> None:
        self.messages.append(text)
        self.label.setText(text)
        self.show()
