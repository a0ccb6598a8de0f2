"""The operator's window: devices and scan set-up on the left; live, scan and cells on the right."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from uvscope.acquisition.events import RunState, ScanProgress, ScanSummary
from uvscope.acquisition.plan import GridPlan
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.errors import ConfigError, UvscopeError
from uvscope.gui.device_panel import DevicePanel
from uvscope.gui.device_worker import DeviceWorker
from uvscope.gui.error_banner import ErrorBanner
from uvscope.gui.live_session import LiveSession
from uvscope.gui.live_view import LiveViewWidget
from uvscope.gui.priority import lower_analysis_threads
from uvscope.gui.results_panel import ResultsPanel
from uvscope.gui.scan_controller import AnalysisFactory, ScanController, default_analysis_factory
from uvscope.gui.scan_form import ScanForm
from uvscope.gui.scan_view import ScanView
from uvscope.gui.tile_worker import TileWorker

Ask = Callable[[str, str], bool]


def fitted_size(preferred: tuple[int, int], available: tuple[int, int]) -> tuple[int, int]:
    """The preferred window size, shrunk to the screen's available area less a margin for
    the window frame and panels."""
    return (
        min(preferred[0], int(available[0] * 0.98)),
        min(preferred[1], int(available[1] * 0.94)),
    )


def _ask_dialog(parent: QWidget) -> Ask:
    def ask(title: str, text: str) -> bool:
        answer = QMessageBox.question(
            parent,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    return ask


class MainWindow(QMainWindow):
    def __init__(
        self,
        rig: Rig,
        analysis_factory: AnalysisFactory | None | str = "default",
        ask: Ask | None = None,
        live_on_connect: bool = True,
        scan: ScanConfig | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle(f"uvscope - {rig.config.name}")
        self.rig = rig
        self.ask = ask or _ask_dialog(self)
        self.live_on_connect = live_on_connect
        self.worker = DeviceWorker(self)
        self.live_session = LiveSession(rig, self.worker, self)
        self.controller = ScanController(
            rig,
            default_analysis_factory() if analysis_factory == "default" else analysis_factory,  # type: ignore[arg-type]
            self,
        )
        self.tile_worker: TileWorker | None = None
        self._live_was_on = False
        self._closing = False
        self._closed_clean = False

        # widgets
        self.banner = ErrorBanner()
        self.panel = DevicePanel(rig, self.worker)
        self.form = ScanForm()
        if scan is not None:
            self.form.set_config(scan)
        self.form.position_mm = lambda: self.panel.position[:2] if self.panel.position else None
        self.form.focus_um = lambda: self.panel.position[2] if self.panel.position else None
        self.live = LiveViewWidget(rig.config.camera.pixel_size_um)
        self.scan_view = ScanView()
        self.results = ResultsPanel()

        left = QTabWidget()
        for widget, title in ((self.panel, "Devices"), (self.form, "Scan set-up")):
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setWidget(widget)
            left.addTab(area, title)
        self.left_tabs = left
        self.tabs = QTabWidget()
        self.tabs.addTab(self.live, "Live")
        scan_split = QSplitter(Qt.Orientation.Horizontal)
        scan_split.addWidget(self.scan_view)
        self.tabs.addTab(scan_split, "Scan")
        self.tabs.addTab(self.results, "Cells and differential")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([490, 1010])
        self.main_split = split
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.banner)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)
        self._build_menu()

        # wiring
        self.worker.failed.connect(self._device_failed)
        self.panel.position_changed.connect(self._on_position)
        self.panel.connection_changed.connect(self._on_connection)
        self.panel.wavelength_requested.connect(
            lambda nm: self.live_session.start(wavelength_nm=nm)
        )
        self.panel.exposure_requested.connect(self._set_exposure)
        self.panel.autofocus_requested.connect(self.autofocus)
        self.live.wavelength_requested.connect(lambda nm: self.live_session.start(wavelength_nm=nm))
        self.live_session.started.connect(self.live.set_source)
        self.live_session.stopped.connect(lambda: self.live.set_source(None))
        self.live_session.refused.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.live.source_failed.connect(self._live_failed)
        for key, (dx, dy) in {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
        }.items():
            sc = QShortcut(QKeySequence(key), self.live)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda dx=dx, dy=dy: self.panel.jog(dx, dy))
        self.scan_view.start_requested.connect(self.start_scan)
        self.scan_view.pause_requested.connect(self.controller.pause)
        self.scan_view.resume_requested.connect(self._resume)
        self.scan_view.abort_requested.connect(self._abort)
        self.controller.state_changed.connect(self._on_state)
        self.controller.progress.connect(self._on_progress)
        self.controller.plan_ready.connect(self._on_plan)
        self.controller.finished.connect(self._on_finished)
        self.controller.device_error.connect(self._on_device_error)
        self.controller.log.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.controller.differential.connect(self._on_differential)
        self.controller.stopped.connect(self._on_stopped)
        self.controller.analysis_error.connect(self._on_analysis_error)
        self.results.cell_activated.connect(self._show_cell)
        self.results.failed.connect(self.banner.show_error)
        self.statusBar().showMessage("connecting to the rig...")
        QTimer.singleShot(0, self.panel.connect_all)

    def fit_to_screen(self, preferred: tuple[int, int] = (1500, 900)) -> None:
        """Take the preferred size where the screen has room, else most of the screen (a
        laptop's 1366 x 768): a window larger than its screen hides its right and bottom."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(*preferred)
            return
        w, h = fitted_size(preferred, screen.availableGeometry().size().toTuple())
        self.resize(w, h)
        left = min(490, max(380, int(0.33 * w)))
        self.main_split.setSizes([left, w - left])
        self.move(screen.availableGeometry().topLeft())

    def _build_menu(self) -> None:
        menu = self.menuBar().addMenu("&Scan")
        for text, slot, key in (
            ("Open scan set-up...", self._open_scan, QKeySequence.StandardKey.Open),
            ("Save scan set-up...", self._save_scan, QKeySequence.StandardKey.Save),
            ("Start scan", self.start_scan, None),
        ):
            act = QAction(text, self)
            if key is not None:
                act.setShortcut(key)
            act.triggered.connect(slot)
            menu.addAction(act)
        live = self.menuBar().addMenu("&Live")
        for text, slot in (
            ("Start live view", lambda: self.live_session.start()),
            ("Stop live view", lambda: self.live_session.stop()),
        ):
            act = QAction(text, self)
            act.triggered.connect(slot)
            live.addAction(act)

    # ------------------------------------------------------------------ devices and live
    def _device_failed(self, what: str, err: BaseException) -> None:
        self.banner.show_error(what, err)

    def _on_connection(self, ok: bool) -> None:
        self.statusBar().showMessage("rig connected" if ok else "rig not connected", 5000)
        if ok and self.live_on_connect and not self.controller.running:
            self.live_session.start(exposure_ms=self.panel.exposure.value())

    def autofocus(self) -> None:
        """Autofocus at the current position (live view paused: it shares the camera)."""
        if self.controller.running or self.panel.position is None:
            return
        from uvscope.acquisition.autofocus import Autofocus, SweepSettings

        x, y, _ = self.panel.position
        live_on = self.live_session.running
        nm, exp = self.live_session.wavelength_nm, self.live_session.exposure_ms
        af = Autofocus(self.rig, SweepSettings(), nm, exp)
        self.panel.autofocus_button.setEnabled(False)
        self.statusBar().showMessage("autofocus...")
        self.live_session.stop()

        def done(result: Any) -> None:
            self.panel.autofocus_button.setEnabled(True)
            self.panel.poll(force=True)
            text = (
                f"autofocus: z = {result.z_um:.2f} um"
                if result.found
                else f"autofocus found no focus: {result.message}"
            )
            self.statusBar().showMessage(text, 15_000)
            if not result.found:
                self.banner.show_message(
                    f"Autofocus found no focus here: {result.message}.\n\nWhat to do: move to "
                    "a field with cells, focus roughly by hand, then try again."
                )
            if live_on:
                self.live_session.start()

        def failed(_: BaseException) -> None:
            self.panel.autofocus_button.setEnabled(True)
            if live_on:
                self.live_session.start()

        self.worker.submit("autofocus", af.run, x, y, on_done=done, on_error=failed)

    def _live_failed(self, message: str) -> None:
        self.live_session.stop()
        self.banner.show_message(
            f"The live view stopped: {message}\n\nWhat to do: check the camera and the filter "
            "wheel, press Reconnect, then start the live view again (Live menu)."
        )

    def _on_position(self, x: float, y: float, z: float) -> None:
        self.live.stage_mm = (x, y)

    def _set_exposure(self, exposure_ms: float) -> None:
        if self.live_session.running:
            self.live_session.start(exposure_ms=exposure_ms)
        else:
            self.worker.submit("set the exposure", self.rig.camera.set_exposure_ms, exposure_ms)

    # ------------------------------------------------------------------ scan set-up files
    def _open_scan(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open scan set-up", "", "TOML (*.toml)")
        if path:
            try:
                self.form.load(Path(path))
            except UvscopeError as err:
                self.banner.show_error(f"open {path}", err)

    def _save_scan(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save scan set-up", "scan.toml", "TOML (*.toml)"
        )
        if path:
            try:
                self.form.save(Path(path))
            except UvscopeError as err:
                self.banner.show_error(f"save {path}", err)

    # ------------------------------------------------------------------ scan
    def start_scan(self) -> None:
        """Validate the set-up, stop live view (in the worker), then start the engine."""
        if self.controller.running:
            return
        try:
            cfg = self.form.config()
            if cfg.output_dir is None:
                err = ConfigError("scan set-up\n  output_dir: choose an output folder for the scan")
                self.form.show_errors(err)
                raise err
            self.controller.plan(cfg)
        except UvscopeError as err:
            self.left_tabs.setCurrentIndex(1)
            self.banner.show_error("start the scan", err)
            return
        self.banner.hide()
        self._live_was_on = self.live_session.running
        self.panel.set_scanning(True)
        self.live_session.lock("a scan is running (live view would fight it for the camera "
                               "and the filter wheel)")
        self.scan_view.set_state(RunState.PREPARING)
        self.tabs.setCurrentIndex(1)
        self.live_session.stop()
        if cfg.analysis.enabled:
            self.statusBar().showMessage("loading the analysis models...")
        # in the device worker, after live view has stopped: model loading never blocks the GUI
        self.worker.submit(
            "load the analysis models",
            self.controller.make_analysis,
            cfg,
            Path(str(cfg.output_dir)),
            on_done=lambda sink: self._start_engine(cfg, sink),
            on_error=lambda err: self._scan_over(),
        )

    def _start_engine(self, cfg: ScanConfig, analysis: Any = None) -> None:
        assert cfg.output_dir is not None
        out = Path(cfg.output_dir)
        self.scan_view.mosaic.clear_tiles()
        self.results.reset(out, analysed=analysis is not None)
        if analysis is not None:
            lower_analysis_threads()  # the window wins the CPU from the networks
        if self.tile_worker is not None:
            self.tile_worker.shutdown(wait=False)
        tw = TileWorker(cfg.wavelengths[0].nm, self)
        tw.tile_ready.connect(self.scan_view.mosaic.add_tile)
        tw.tile_ready.connect(lambda t: self.panel.show_scan_position(t.x_mm, t.y_mm))
        tw.result_ready.connect(self._on_result)
        tw.failed.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.tile_worker = tw
        try:
            self.controller.start(cfg, out, tw, analysis)
        except UvscopeError as err:
            self.banner.show_error("start the scan", err)
            self._scan_over()

    def _on_plan(self, plan: GridPlan) -> None:
        fx, fy = plan.fov_mm
        self.scan_view.set_total(len(plan.tiles))
        self.scan_view.mosaic.set_plan([(t.x_mm, t.y_mm) for t in plan.tiles], fx * 1e3, fy * 1e3)

    def _on_state(self, state: RunState) -> None:
        self.scan_view.set_state(state)

    def _on_progress(self, p: ScanProgress) -> None:
        self.scan_view.set_progress(p)

    def _on_result(self, index: int, images: dict[str, Any], thumbs: list[Any]) -> None:
        self.scan_view.mosaic.update_tile(index, images)
        self.results.add_cells(thumbs)

    def _on_differential(self, diff: Any) -> None:
        self.results.show_analysis_differential(diff)

    def _on_device_error(self, text: str) -> None:
        self.banner.show_message(f"Device error, scan paused: {text}")

    def _on_analysis_error(self, index: int, message: str) -> None:
        self.banner.show_message(
            f"The analysis of tile {index} failed: {message}\n\nWhat to do: the scan goes on "
            "and the tile is saved; re-run the analysis later with `uvscope analyze <scan "
            "folder>`."
        )

    def _resume(self) -> None:
        self.banner.hide()
        self.controller.resume()

    def _abort(self) -> None:
        if self.ask(
            "Abort the scan?",
            "Stop the scan now? Every tile written so far is kept; "
            "you can finish later with `uvscope scan --resume`.",
        ):
            self.controller.abort()

    def _on_finished(self, summary: ScanSummary) -> None:
        text = (
            f"Scan {summary.status}: {summary.tiles_done} of {summary.tiles_total} tiles in "
            f"{summary.out_dir}"
        )
        self.statusBar().showMessage(text)
        if summary.status == "failed":
            self.banner.show_message(
                f"The scan failed: {summary.message}\n\nWhat to do: the files written so far "
                f"are intact; fix the cause, then finish with `uvscope scan --resume "
                f"{summary.out_dir}`."
            )
        self._scan_over()

    def _scan_over(self) -> None:
        self.panel.set_scanning(False)
        self.live_session.unlock()
        self.scan_view.set_state(
            self.controller.engine.state if self.controller.engine else RunState.IDLE
        )
        if self._live_was_on and not self._closing:
            self.live_session.start()

    def _show_cell(self, cell: Any) -> None:
        self.tabs.setCurrentIndex(1)
        self.scan_view.mosaic.center_on(cell.x_um, cell.y_um)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._closed_clean:
            event.accept()
            return
        if self.controller.running:
            out = self.controller.out_dir
            if not self.ask(
                "A scan is running",
                "Stop the scan now and close? Every tile taken so far is kept (the scan "
                "stops at the next tile boundary); the analysis is left for later: finish "
                f"with `uvscope scan --resume {out}` or `uvscope analyze {out}`.",
            ):
                event.ignore()
                return
            self._closing = True
            self.statusBar().showMessage("stopping the scan at the next tile...")
            self.setEnabled(False)
            event.ignore()
            self.controller.stop_and_wait(leave_analysis=True)  # -> _on_stopped closes
            return
        self._shutdown()
        event.accept()

    def _on_stopped(self) -> None:
        if self._closing:
            self._shutdown()
            self.close()

    def _shutdown(self) -> None:
        """Stop live view and close the devices in the worker, then stop the worker."""
        self._closed_clean = True
        self.panel.poll_timer.stop()
        self.live.timer.stop()
        self.worker.submit("stop the live view", self.live_session._stop_now)
        self.worker.submit("close the devices", self.rig.close)
        self.worker.shutdown(wait=True)
        if self.tile_worker is not None:
            self.tile_worker.shutdown(wait=True)
