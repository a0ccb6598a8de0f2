"""Start the Qt application around a rig (the ``uvscope gui`` command calls ``run``)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from uvscope.config import RigConfig, ScanConfig
from uvscope.drivers.rig import build_rig
from uvscope.gui.analysis_adapter import preload_analysis
from uvscope.gui.gui_gc import GuiThreadGarbageCollector, settle_startup
from uvscope.gui.main_window import MainWindow


def run(rig_config: RigConfig, scan: ScanConfig | None = None) -> int:
    """Open the window on a new rig; returns the application's exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("uvscope")
    collector = GuiThreadGarbageCollector(parent=app)  # no Qt object dies off the GUI thread
    collector.start()
    preload_analysis()  # torch's import would freeze a running window; pay for it up front
    settle_startup()
    rig = build_rig(rig_config)
    window = MainWindow(rig, scan=scan)
    window.fit_to_screen()
    window.show()
    try:
        return int(app.exec())
    finally:
        collector.stop()
