"""Scan view: progress (tiles, rate, ETA), start/pause/resume/abort, the live-filling mosaic."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from uvscope.acquisition.events import RunState, ScanProgress
from uvscope.gui.mosaic_view import MosaicView
from uvscope.gui.tile_prep import MODES


def _duration(s: float | None) -> str:
    if s is None:
        return "--"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class ScanView(QWidget):
    """Buttons emit requests; ``set_state``/``set_progress`` show what the engine reports."""

    start_requested = Signal()
    pause_requested = Signal()
    resume_requested = Signal()
    abort_requested = Signal()

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
        self.mosaic = MosaicView()
        self.mode_buttons: dict[str, QRadioButton] = {}
        group = QButtonGroup(self)
        modes = QHBoxLayout()
        modes.addWidget(QLabel("Show:"))
        for m in MODES:
            b = QRadioButton(m.capitalize())
            b.toggled.connect(lambda on, m=m: on and self.mosaic.set_mode(m))
            group.addButton(b)
            self.mode_buttons[m] = b
            modes.addWidget(b)
        self.mode_buttons["gray"].setChecked(True)
        modes.addStretch(1)
        self.tile_count = QLabel("")
        modes.addWidget(self.tile_count)
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
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addLayout(info)
        lay.addLayout(modes)
        lay.addWidget(self.mosaic, 1)
        self.set_state(RunState.IDLE)

    def set_state(self, state: RunState) -> None:
        self.state = state
        active = state in (RunState.PREPARING, RunState.RUNNING, RunState.PAUSED)
        self.start_button.setEnabled(not active)
        self.pause_button.setEnabled(state == RunState.RUNNING)
        self.resume_button.setEnabled(state == RunState.PAUSED)
        self.abort_button.setEnabled(active)
        text = {
            RunState.PREPARING: "preparing: dark and background frames",
            RunState.PAUSED: "paused",
        }.get(state, state.value)
        if state == RunState.IDLE and not self.mosaic.tiles:
            text = "idle: set it up under Scan set-up, then Start scan"
        self.state_label.setText(f"Scan {text}")

    def set_total(self, total: int) -> None:
        self.progress_bar.setFormat("%v / %m tiles")
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(0)

    def set_progress(self, p: ScanProgress) -> None:
        self.progress_bar.setFormat("%v / %m tiles")
        self.progress_bar.setRange(0, max(1, p.total))
        self.progress_bar.setValue(p.done)
        self.rate_label.setText(
            f"{p.done} of {p.total} tiles, {p.rate_tiles_per_s:.2f} tiles/s, "
            f"elapsed {_duration(p.elapsed_s)}, ETA {_duration(p.eta_s)}"
        )
