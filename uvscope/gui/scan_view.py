"""Scan view: acquired / analysed / counted progress with an ETA that includes the analysis,
start/pause/resume/abort, the live-filling mosaic and the scan's event log."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from uvscope.acquisition.events import PrepProgress, RunState, ScanProgress
from uvscope.gui.mosaic_view import MosaicView
from uvscope.gui.run_progress import RunProgress
from uvscope.gui.tile_prep import MODES

_ACTIVE = (RunState.PREPARING, RunState.RUNNING, RunState.PAUSED)


class ScanView(QWidget):
    """Buttons emit requests; ``set_state``/``set_progress`` show what the engine reports."""

    start_requested = Signal()
    pause_requested = Signal()
    resume_requested = Signal()
    abort_requested = Signal()
    back_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = RunState.IDLE
        self.start_button = QPushButton("Start scan")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.abort_button = QPushButton("Abort")
        self.start_button.clicked.connect(self.start_requested.emit)
        self.pause_button.clicked.connect(self.pause_requested.emit)
        self.resume_button.clicked.connect(self.resume_requested.emit)
        self.abort_button.clicked.connect(self.abort_requested.emit)
        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("no scan yet")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.state_label = QLabel("idle")
        self.rate_label = QLabel("")
        #: a target-count scan's projection to its target (empty otherwise)
        self.target_label = QLabel("")
        self.target_label.setWordWrap(True)
        self.mosaic = MosaicView()
        self.mode_buttons: dict[str, QRadioButton] = {}
        group = QButtonGroup(self)
        modes = QHBoxLayout()
        modes.addWidget(QLabel("Show:"))
        for m in MODES:
            b = QRadioButton(m.capitalize())
            b.toggled.connect(lambda on, m=m: self.mosaic.set_mode(m) if on else None)
            group.addButton(b)
            self.mode_buttons[m] = b
            modes.addWidget(b)
        self.mode_buttons["gray"].setChecked(True)
        modes.addStretch(1)
        self.tile_count = QLabel("")
        modes.addWidget(self.tile_count)
        #: shown after "Show in mosaic": back to the cell in the review, where it was
        self.back_button = QPushButton("Back to review")
        self.back_button.setToolTip("Return to the cell gallery, the same cell selected")
        self.back_button.setVisible(False)
        self.back_button.clicked.connect(self.back_requested.emit)
        modes.addWidget(self.back_button)
        self.mosaic.tile_added.connect(
            lambda _: self.tile_count.setText(f"{len(self.mosaic.tiles)} tiles shown")
        )

        top = QHBoxLayout()
        for w in (self.start_button, self.pause_button, self.resume_button, self.abort_button):
            top.addWidget(w)
        top.addWidget(self.progress_bar, 1)
        info = QHBoxLayout()
        info.addWidget(self.state_label)
        info.addStretch(1)
        info.addWidget(self.rate_label)
        self.analysis_bar = QProgressBar()
        self.analysis_bar.setFormat("%v / %m analysed")
        self.analysis_bar.setVisible(False)
        top.addWidget(self.analysis_bar, 1)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setPlaceholderText("Event log: what the scan did, with times")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.mosaic)
        split.addWidget(self.log_view)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        split.setSizes([600, 110])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addLayout(info)
        lay.addWidget(self.target_label)
        lay.addLayout(modes)
        lay.addWidget(split, 1)
        #: the analysis runs with this scan (set by the window before it starts)
        self.analysis_on = False
        self.run = RunProgress()
        #: the preparation step in work (darks, background, focus points), while preparing
        self.prep: PrepProgress | None = None
        self.clock = time.monotonic
        self.tick = QTimer(self)  # elapsed and ETA keep moving while the scan waits
        self.tick.setInterval(1000)
        self.tick.timeout.connect(self._refresh)
        self.set_state(RunState.IDLE)

    def set_state(self, state: RunState) -> None:
        self.state = state
        if state != RunState.PREPARING and self.prep is not None:
            self.prep = None  # the bar goes back to the tiles
            self.progress_bar.setFormat("%v / %m acquired")
            self.progress_bar.setRange(0, max(1, self.run.total))
            self.progress_bar.setValue(self.run.acquired)
        active = state in _ACTIVE
        self.start_button.setEnabled(not active)
        self.pause_button.setEnabled(state == RunState.RUNNING)
        self.resume_button.setEnabled(state == RunState.PAUSED)
        self.abort_button.setEnabled(active)
        if active:
            self.tick.start()
        else:
            self.tick.stop()
        self._show_state()

    def _show_state(self) -> None:
        state = self.state
        text = {RunState.PAUSED: "paused"}.get(state, state.value)
        if state == RunState.PREPARING and self.prep is not None:
            text = f"preparing: {self.prep.text()}"
        if state == RunState.RUNNING and self.run.waiting_for_analysis:
            text = "acquired; waiting for the analysis"
        if state == RunState.IDLE and not self.mosaic.tiles:
            text = "idle: set it up under Scan set-up, then Start scan"
        self.state_label.setText(f"Scan {text}")

    def set_total(self, total: int, done: int = 0) -> None:
        self.progress_bar.setFormat("%v / %m acquired")
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(done)
        self.analysis_bar.setVisible(self.analysis_on)
        self.analysis_bar.setRange(0, max(1, total))
        self.analysis_bar.setValue(done if self.analysis_on else 0)
        self.run.start(total, self.analysis_on, self.clock())
        self._refresh()

    def set_preparing(self, p: PrepProgress) -> None:
        """A step of the preparation: its k of N on the bar, its line (with an ETA) above."""
        self.prep = p
        self.progress_bar.setFormat(f"{p.step.value}: %v / %m")
        self.progress_bar.setRange(0, max(1, p.total))
        self.progress_bar.setValue(p.done)
        self._show_state()

    def set_progress(self, p: ScanProgress) -> None:
        self.progress_bar.setFormat("%v / %m acquired")
        self.progress_bar.setRange(0, max(1, p.total))
        self.progress_bar.setValue(p.done)
        # a count-N scan's total grows ring by ring: both bars count against the same tiles
        self.analysis_bar.setRange(0, max(1, p.total))
        self.run.total = p.total
        self.run.tile_acquired(p.done, self.clock())
        self._refresh()

    def tile_analysed(self) -> None:
        self.run.tile_analysed(self.clock())
        self.analysis_bar.setValue(self.run.analysed)
        self._refresh()

    def set_counted(self, healthy_wbc: int) -> None:
        self.run.counted_wbc = healthy_wbc
        self._refresh()

    def _refresh(self) -> None:
        if self.run.total:
            self.rate_label.setText(self.run.text(self.clock()))
        self._show_state()

    def log_event(self, text: str) -> None:
        """One line in the event log, with the wall-clock time."""
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")
