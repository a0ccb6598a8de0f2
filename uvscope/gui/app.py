"""Start the Qt application around a rig (the ``uvscope gui`` command calls ``run``)."""

from __future__ import annotations

import sys
from typing import cast

from PySide6.QtWidgets import QApplication

from uvscope.config import RigConfig, ScanConfig
from uvscope.drivers.rig import build_rig
from uvscope.gui.analysis_adapter import preload_analysis
from uvscope.gui.gui_gc import GuiThreadGarbageCollector, settle_startup
from uvscope.gui.lab_settings import LabSettings, load_lab_settings
from uvscope.gui.main_window import MainWindow


def prepare_application(app: QApplication) -> GuiThreadGarbageCollector:
    """What the window's process needs before its event loop: garbage collection on the GUI
    thread only (no Qt object dies off it), torch imported up front (its import would freeze
    a running window) and the start-up heap frozen. The GUI benchmark and the screenshot
    script call this too, so they measure what `uvscope gui` runs."""
    collector = GuiThreadGarbageCollector(parent=app)
    collector.start()
    preload_analysis()
    settle_startup()
    return collector


def run(
    rig_config: RigConfig, scan: ScanConfig | None = None, lab: LabSettings | None = None
) -> int:
    """Open the window on a new rig; returns the application's exit code."""
    # instance() is typed as the QCoreApplication it inherits from; in the GUI it is a QApplication
    app = cast(QApplication, QApplication.instance() or QApplication(sys.argv[:1]))
    app.setApplicationName("uvscope")
    collector = prepare_application(app)
    rig = build_rig(rig_config)
    window = MainWindow(rig, scan=scan, lab=lab or load_lab_settings())
    window.show_on_start_screen()
    try:
        return int(app.exec())
    finally:
        collector.stop()
