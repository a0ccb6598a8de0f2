"""GUI tests run offscreen with pytest-qt; they skip cleanly where Qt is not installed."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("PySide6", reason="the GUI needs PySide6 (pip install uvscope[gui])")
pytest.importorskip("pyqtgraph", reason="the GUI needs pyqtgraph (pip install uvscope[gui])")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")
