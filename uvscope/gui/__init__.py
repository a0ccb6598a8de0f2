"""The operator's Qt application (PySide6 + pyqtgraph).

A thin layer over the scan engine and analysis pipeline the CLI uses: worker threads do every
device and analysis call, and their psygnal events reach widgets through queued Qt signals.
Only this package and ``uvscope.cli.gui`` import Qt.
"""

from uvscope.gui import _pyside_guard

_pyside_guard.apply()
