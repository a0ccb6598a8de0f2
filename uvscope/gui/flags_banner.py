"""The findings of the slide on screen, critical ones first, above the cells.

Red for a critical finding (a blast: the lab calls it through), amber for the rest (H/L
against the reference intervals, bands, immature cells); hidden when there is nothing.
"""

from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel, QWidget

from uvscope.analysis.flags import Flag, ordered

CRITICAL_STYLE = (
    "QLabel { background: #fdecea; color: #8b1a10; border: 2px solid #c0392b; padding: 6px; }"
)
FLAG_STYLE = (
    "QLabel { background: #fff6e0; color: #5c4400; border: 1px solid #d4a017; padding: 4px; }"
)


class FlagsBanner(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setVisible(False)
        self.flags: list[Flag] = []

    @property
    def critical(self) -> bool:
        return any(f.critical for f in self.flags)

    def show_flags(self, flags: list[Flag]) -> None:
        self.flags = ordered(flags)
        self.setVisible(bool(self.flags))
        if not self.flags:
            self.clear()
            return
        lines = []
        for f in self.flags:
            head = "CRITICAL: " if f.critical else ""
            lines.append(
                f"<b>{head}{html.escape(f.message)}</b>" if f.critical else html.escape(f.message)
            )
        self.setText("<br>".join(lines))
        self.setToolTip("\n".join(f"{f.message}: {f.rule}" for f in self.flags))
        self.setStyleSheet(CRITICAL_STYLE if self.critical else FLAG_STYLE)
