"""The report in the window, when no browser can be started (a locked-down lab PC, a rig PC
without a desktop): a simplified view, with the path of the file to print from elsewhere."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget


def browser_available() -> bool:
    """Whether the desktop can open a file in a browser (Linux needs xdg-open)."""
    return not sys.platform.startswith("linux") or shutil.which("xdg-open") is not None


class ReportViewer(QDialog):
    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Report: {path.parent.parent.name}")
        self.resize(900, 800)
        self.note = QLabel(
            f"No web browser could be started on this computer, so the report is shown here "
            f"in a simplified view (charts left out). The full report, to print, is "
            f"<b>{path}</b>: open it in any browser."
        )
        self.note.setWordWrap(True)
        self.browser = QTextBrowser()
        self.browser.setSearchPaths([str(path.parent)])
        self.browser.setHtml(path.read_text(encoding="utf-8"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.note)
        lay.addWidget(self.browser, 1)
        lay.addWidget(buttons)
