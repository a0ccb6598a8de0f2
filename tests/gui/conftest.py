"""GUI tests run offscreen with pytest-qt; they skip cleanly where Qt is not installed."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("PySide6", reason="the GUI needs PySide6 (pip install uvscope[gui])")
pytest.importorskip("pyqtgraph", reason="the GUI needs pyqtgraph (pip install uvscope[gui])")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread(qapp):
    """As `uvscope gui` does: no thread but the GUI thread may free Qt objects. At the end,
    delete the closed windows and collect their cycles here, so no later test's thread
    (an engine, a device worker) frees them."""
    from PySide6.QtCore import QCoreApplication, QEvent

    from uvscope.gui.gui_gc import GuiThreadGarbageCollector

    collector = GuiThreadGarbageCollector()
    collector.start()
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    collector.stop()
