"""The PySide6 + pyqtgraph operator GUI (the only room that imports Qt)."""
