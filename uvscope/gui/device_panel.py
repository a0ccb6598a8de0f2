"""Device panel: connection state with reconnect, exposure, filter, XY jog and go-to, focus,
homing with its state.

Every device call goes through the DeviceWorker; the panel only sends requests and shows
results, so a slow or stuck device never freezes the window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from uvscope.drivers import homing
from uvscope.drivers.rig import Rig
from uvscope.gui.device_worker import DeviceWorker

JOG_STEPS_MM: dict[str, float] = {"1 µm": 0.001, "10 µm": 0.01, "100 µm": 0.1, "1 mm": 1.0}
_DEVICE_NAMES = ("camera", "filter_wheel", "stage", "focus")
HOME_QUESTION = (
    "Home the focus, then stage X and Y? Each axis runs to its reference switch (the focus "
    "away from the slide first). Make sure nothing is in the stage's way."
)


def _ask_with_a_dialog(title: str, text: str) -> bool:
    answer = QMessageBox.question(None, title, text)
    return answer == QMessageBox.StandardButton.Yes


def _dspin(lo: float, hi: float, decimals: int, suffix: str, value: float = 0.0) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSuffix(f" {suffix}")
    s.setValue(value)
    return s


class DevicePanel(QWidget):
    """Controls for one Rig; ``position_changed(x_mm, y_mm, z_um)`` as the stage is polled."""

    position_changed = Signal(float, float, float)
    wavelength_requested = Signal(int)
    exposure_requested = Signal(float)
    connection_changed = Signal(bool)
    autofocus_requested = Signal()

    def __init__(
        self,
        rig: Rig,
        worker: DeviceWorker,
        poll_ms: int = 250,
        parent: QWidget | None = None,
        ask: Callable[[str, str], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self.rig = rig
        self.worker = worker
        self.ask = ask or _ask_with_a_dialog
        #: "unknown", "homing", "homed", "not homed: ..." or "not reported"
        self.homing_state = "unknown"
        self.state: dict[str, str] = dict.fromkeys(_DEVICE_NAMES, "not connected")
        self.position: tuple[float, float, float] | None = None
        self.scanning = False
        lay = QVBoxLayout(self)

        # connection
        box = QGroupBox("Devices")
        g = QGridLayout(box)
        self.state_labels: dict[str, QLabel] = {}
        self.reconnect_buttons: dict[str, QPushButton] = {}
        for r, name in enumerate(_DEVICE_NAMES):
            g.addWidget(QLabel(name.replace("_", " ").capitalize()), r, 0)
            lab = QLabel()
            lab.setWordWrap(True)
            self.state_labels[name] = lab
            g.addWidget(lab, r, 1)
            b = QPushButton("Reconnect")
            b.clicked.connect(lambda _=False, n=name: self.reconnect(n))
            self.reconnect_buttons[name] = b
            g.addWidget(b, r, 2)
        g.setColumnStretch(1, 1)
        lay.addWidget(box)

        # camera + wheel
        box = QGroupBox("Camera and filter")
        g = QGridLayout(box)
        cam = rig.config.camera
        self.exposure = _dspin(cam.exposure_min_ms, cam.exposure_max_ms, 1, "ms", 50.0)
        self.exposure.editingFinished.connect(
            lambda: self.exposure_requested.emit(self.exposure.value())
        )
        g.addWidget(QLabel("Exposure"), 0, 0)
        g.addWidget(self.exposure, 0, 1)
        self.filter = QComboBox()
        for nm in sorted(int(k) for k in rig.config.filter_wheel.slots):
            self.filter.addItem(f"{nm} nm", nm)
        self.filter.activated.connect(
            lambda i: self.wavelength_requested.emit(self.filter.itemData(i))
        )
        g.addWidget(QLabel("Filter"), 1, 0)
        g.addWidget(self.filter, 1, 1)
        self.wheel_label = QLabel("")
        g.addWidget(self.wheel_label, 1, 2)
        lay.addWidget(box)

        # stage
        box = QGroupBox("Stage")
        g = QGridLayout(box)
        self.position_label = QLabel("position unknown")
        g.addWidget(self.position_label, 0, 0, 1, 4)
        self.step = QComboBox()
        self.step.addItems(list(JOG_STEPS_MM))
        self.step.setCurrentText("100 µm")
        g.addWidget(QLabel("Step"), 1, 0)
        g.addWidget(self.step, 1, 1)
        self.jog_buttons = {}
        for key, (text, dx, dy, r, c) in {
            "up": ("↑", 0, -1, 2, 2),
            "left": ("←", -1, 0, 3, 1),
            "right": ("→", 1, 0, 3, 3),
            "down": ("↓", 0, 1, 4, 2),
        }.items():
            b = QPushButton(text)
            b.setToolTip("Jog the stage (arrow keys too); up on screen is -y")
            b.clicked.connect(lambda _=False, dx=dx, dy=dy: self.jog(dx, dy))
            self.jog_buttons[key] = b
            g.addWidget(b, r, c)
        lim = rig.config.stage
        self.goto_x = _dspin(*lim.x_limits_mm, 4, "mm")
        self.goto_y = _dspin(*lim.y_limits_mm, 4, "mm")
        self.goto_button = QPushButton("Go to")
        self.goto_button.clicked.connect(
            lambda: self.go_to(self.goto_x.value(), self.goto_y.value())
        )
        row = QHBoxLayout()
        for w in (self.goto_x, self.goto_y, self.goto_button):
            row.addWidget(w)
        g.addLayout(row, 5, 0, 1, 4)
        self.home_button = QPushButton("Home")
        self.home_button.setToolTip(HOME_QUESTION)
        self.home_button.clicked.connect(self.home)
        self.homed_label = QLabel("homing state unknown")
        self.homed_label.setWordWrap(True)
        g.addWidget(self.home_button, 6, 0)
        g.addWidget(self.homed_label, 6, 1, 1, 3)
        lay.addWidget(box)

        # focus
        box = QGroupBox("Focus")
        g = QGridLayout(box)
        self.z_label = QLabel("z unknown")
        g.addWidget(self.z_label, 0, 0, 1, 4)
        self.fine = _dspin(0.01, 100, 2, "um", 1.0)
        self.coarse = _dspin(1, 1000, 1, "um", 25.0)
        self.focus_buttons = []
        for r, (name, spin) in enumerate((("Fine", self.fine), ("Coarse", self.coarse)), start=1):
            g.addWidget(QLabel(name), r, 0)
            g.addWidget(spin, r, 1)
            for c, sign in ((2, 1), (3, -1)):
                b = QPushButton("+" if sign > 0 else "−")
                b.clicked.connect(
                    lambda _=False, s=spin, sign=sign: self.focus_by(sign * s.value())
                )
                self.focus_buttons.append(b)
                g.addWidget(b, r, c)
        flim = rig.config.focus.limits_um
        self.goto_z = _dspin(flim[0], flim[1], 2, "um")
        self.goto_z_button = QPushButton("Go to z")
        self.goto_z_button.clicked.connect(lambda: self.focus_to(self.goto_z.value()))
        g.addWidget(self.goto_z, 3, 1)
        g.addWidget(self.goto_z_button, 3, 2, 1, 2)
        self.autofocus_button = QPushButton("Autofocus here")
        self.autofocus_button.setToolTip("Image-based z sweep at the current position")
        self.autofocus_button.clicked.connect(self.autofocus_requested.emit)
        g.addWidget(self.autofocus_button, 4, 1, 1, 3)
        lay.addWidget(box)
        lay.addStretch(1)

        # no arrow-key jog here: Up/Down belong to the spin boxes (the live image jogs)

        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(poll_ms)
        self.poll_timer.timeout.connect(self.poll)
        self._show_state()

    # ------------------------------------------------------------------ connection
    def connect_all(self) -> None:
        def done(_: object) -> None:
            for n in _DEVICE_NAMES:
                self.state[n] = "connected"
            self._show_state()
            self.poll_timer.start()
            self.poll()
            self.refresh_homed()
            self.connection_changed.emit(True)

        def failed(err: BaseException) -> None:
            for n in _DEVICE_NAMES:
                self.state[n] = f"error: {err}"
            self._show_state()
            self.connection_changed.emit(False)

        self.worker.submit("connect the rig", self.rig.connect, on_done=done, on_error=failed)

    def reconnect(self, name: str) -> None:
        dev = self.rig.devices[name]

        def reopen() -> None:
            dev.close()
            dev.connect()

        def done(_: object) -> None:
            self.state[name] = "connected"
            self._show_state()
            if not self.poll_timer.isActive() and not self.scanning:
                self.poll_timer.start()

        def failed(err: BaseException) -> None:
            self.state[name] = f"error: {err}"
            self._show_state()

        self.state[name] = "reconnecting..."
        self._show_state()
        self.worker.submit(
            f"reconnect the {name.replace('_', ' ')}", reopen, on_done=done, on_error=failed
        )

    def mark_error(self, name: str, err: BaseException) -> None:
        if name in self.state:
            self.state[name] = f"error: {err}"
            self._show_state()

    def _show_state(self) -> None:
        for name, text in self.state.items():
            lab = self.state_labels[name]
            lab.setText(text)
            ok = text == "connected"
            lab.setStyleSheet("color: #1e8449;" if ok else "color: #c0392b;")

    # ------------------------------------------------------------------ motion
    def _device_call(self, device: str, what: str, fn, *args) -> None:  # type: ignore[no-untyped-def]
        self.worker.submit(
            f"{device}: {what}",
            fn,
            *args,
            on_done=lambda _: self.poll(force=True),
            on_error=lambda err: self.mark_error(device, err),
        )

    def jog(self, dx_steps: int, dy_steps: int) -> None:
        if self.scanning:
            return
        step = JOG_STEPS_MM[self.step.currentText()]
        self._device_call(
            "stage", "jog", self.rig.stage.move_by_mm, dx_steps * step, dy_steps * step
        )

    def go_to(self, x_mm: float, y_mm: float) -> None:
        if not self.scanning:
            self._device_call("stage", "go to", self.rig.stage.move_to_mm, x_mm, y_mm)

    def focus_by(self, dz_um: float) -> None:
        if not self.scanning:
            self._device_call("focus", "move", self.rig.focus.move_by_um, dz_um)

    def focus_to(self, z_um: float) -> None:
        if not self.scanning:
            self._device_call("focus", "go to", self.rig.focus.move_to_um, z_um)

    # ------------------------------------------------------------------ homing
    def home(self) -> None:
        """Ask, then home focus, X and Y in the worker (the focus first, out of the way)."""
        if self.scanning or not self.ask("Home the stage", HOME_QUESTION):
            return
        stage, focus = self.rig.stage, self.rig.focus

        def run() -> dict[str, bool | None]:
            plan = homing.plan_homing(stage, focus, homing.parse_axes(["all"]), 0.0)
            return homing.home(stage, focus, plan).homed

        def failed(err: BaseException) -> None:
            self.mark_error("stage", err)
            self.refresh_homed()

        self._show_homed(None)
        self.worker.submit(
            "home the stage and focus", run, on_done=self._homed_done, on_error=failed
        )

    def _homed_done(self, homed: dict[str, bool | None]) -> None:
        self._show_homed(homed)
        self.poll(force=True)

    def refresh_homed(self) -> None:
        """Ask the controllers whether each axis is homed (after connect, home, errors)."""
        stage, focus = self.rig.stage, self.rig.focus
        self.worker.submit(
            "read the homing state",
            lambda: {**stage.homed_axes(), "z": focus.is_homed()},
            on_done=self._show_homed,
            on_error=lambda err: self.mark_error("stage", err),
        )

    def _show_homed(self, homed: dict[str, bool | None] | None) -> None:
        if homed is None:
            self.homing_state, text, colour = "homing", "homing...", "#b9770e"
        elif not_homed := [a for a, h in homed.items() if h is False]:
            self.homing_state = f"not homed: {', '.join(not_homed)}"
            text = f"{', '.join(not_homed)} NOT HOMED: home before moving or scanning"
            colour = "#c0392b"
        elif all(h is None for h in homed.values()):
            self.homing_state, text, colour = "not reported", "homing not reported", "#555555"
        else:
            self.homing_state, text, colour = "homed", "homed", "#1e8449"
        self.homed_label.setText(text)
        self.homed_label.setStyleSheet(f"color: {colour};")

    # ------------------------------------------------------------------ polling
    def poll(self, force: bool = False) -> None:
        """Read positions in the worker; skipped while other calls are queued (no pile-up)."""
        if self.scanning or (self.worker.pending and not force):
            return
        rig = self.rig

        def read() -> tuple[float, float, float, int | None, int]:
            x, y = rig.stage.position_mm()
            return (
                x,
                y,
                rig.focus.position_um(),
                rig.filter_wheel.wavelength_nm,
                rig.filter_wheel.slot,
            )

        self.worker.submit(
            "read the stage position",
            read,
            on_done=self._show_position,
            on_error=lambda err: self.mark_error("stage", err),
        )

    def _show_position(self, pos: tuple[float, float, float, int | None, int]) -> None:
        x, y, z, nm, slot = pos
        self.set_position(x, y, z)
        self.wheel_label.setText(f"slot {slot}" + (f" ({nm} nm)" if nm else " (no filter)"))
        self._show_filter(nm)

    def set_position(self, x: float, y: float, z: float) -> None:
        if self.position is None:  # start the go-to fields where the stage is
            self.goto_x.setValue(x)
            self.goto_y.setValue(y)
            self.goto_z.setValue(z)
        self.position = (x, y, z)
        self.position_label.setText(f"x {x:.4f} mm   y {y:.4f} mm")
        self.z_label.setText(f"z {z:.2f} um")
        self.position_changed.emit(x, y, z)

    def show_scan_position(self, x: float, y: float) -> None:
        """During a scan the engine owns the stage: show where the last tile was taken."""
        self.position_label.setText(f"x {x:.4f} mm   y {y:.4f} mm (scanning)")

    def show_live_settings(self, nm: int, exposure_ms: float) -> None:
        """What live view now runs at (e.g. a wavelength's preset exposure), without
        sending it back to the devices."""
        self._show_filter(nm)
        self.exposure.blockSignals(True)
        self.exposure.setValue(exposure_ms)
        self.exposure.blockSignals(False)

    def _show_filter(self, nm: int | None) -> None:
        """The filter box shows the wheel's real wavelength, never a stale choice."""
        i = self.filter.findData(nm) if nm else -1
        if i >= 0 and i != self.filter.currentIndex():
            self.filter.blockSignals(True)
            self.filter.setCurrentIndex(i)
            self.filter.blockSignals(False)

    def set_scanning(self, scanning: bool) -> None:
        """The scan engine owns the devices during a scan: controls off, polling off."""
        self.scanning = scanning
        for w in (
            *self.jog_buttons.values(),
            self.goto_button,
            *self.focus_buttons,
            self.goto_z_button,
            self.autofocus_button,
            self.home_button,
            self.exposure,
            self.filter,
            *self.reconnect_buttons.values(),
        ):
            w.setEnabled(not scanning)
        if scanning:
            self.poll_timer.stop()
        elif any(s == "connected" for s in self.state.values()):
            self.poll_timer.start()
            self.poll(force=True)
