"""The operator's window: devices and scan set-up on the left; live, scan and cells on the right."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QCursor,
    QGuiApplication,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from uvscope.acquisition.events import RunState, ScanProgress, ScanSummary
from uvscope.acquisition.grow import scan_plan
from uvscope.acquisition.plan import GridPlan, fov_mm
from uvscope.acquisition.prepare import AnalysisFactory
from uvscope.acquisition.target_estimate import TargetWatch, folder_bytes
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.errors import ConfigError, ModelError, UvscopeError
from uvscope.gui.device_panel import DevicePanel
from uvscope.gui.device_worker import DeviceWorker
from uvscope.gui.error_banner import ErrorBanner
from uvscope.gui.folder_state import folder_state
from uvscope.gui.help_dialog import HelpDialog, about_text
from uvscope.gui.input_guards import guard_wheel
from uvscope.gui.lab_settings import LabSettings
from uvscope.gui.live_session import LiveSession
from uvscope.gui.live_view import LiveViewWidget
from uvscope.gui.overview_feed import OverviewFeed
from uvscope.gui.priority import lower_analysis_threads
from uvscope.gui.red_cells_panel import RedCellsPanel
from uvscope.gui.results_panel import ResultsPanel
from uvscope.gui.scan_controller import (
    PreparedScan,
    ScanController,
    default_analysis_factory,
)
from uvscope.gui.scan_form import ScanForm
from uvscope.gui.scan_view import ScanView
from uvscope.gui.slide_overview import SlideOverview
from uvscope.gui.stored_scan import StoredScan, StoredScanLoader, open_stored_scan
from uvscope.gui.tile_worker import TileWorker
from uvscope.gui.worklist import WorklistDialog
from uvscope.models.reference_cells import choose_reference_cells

Ask = Callable[[str, str], bool]
#: below this window width the set-up column folds away while reviewing
NARROW_PX = 1600


def fitted_size(preferred: tuple[int, int], available: tuple[int, int]) -> tuple[int, int]:
    """The preferred window size, shrunk to the screen's available area less a margin for
    the window frame and panels."""
    return (
        min(preferred[0], int(available[0] * 0.98)),
        min(preferred[1], int(available[1] * 0.94)),
    )


class _AskDialog:
    """Yes/No questions; ``dismiss`` closes the one on screen as No (a question about a scan
    that has ended behind it must not stay up)."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self.box: QMessageBox | None = None

    def __call__(self, title: str, text: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self.parent)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        self.box = box
        try:
            return box.exec() == QMessageBox.StandardButton.Yes
        finally:
            self.box = None

    def dismiss(self) -> None:
        if self.box is not None:
            self.box.done(QMessageBox.StandardButton.No)


def _ask_dialog(parent: QWidget) -> Ask:
    return _AskDialog(parent)


class MainWindow(QMainWindow):
    def __init__(
        self,
        rig: Rig,
        analysis_factory: AnalysisFactory | None | str = "default",
        ask: Ask | None = None,
        live_on_connect: bool = True,
        scan: ScanConfig | None = None,
        lab: LabSettings | None = None,
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
        self.loader = StoredScanLoader(self)
        self.stored: StoredScan | None = None  #: the stored scan on screen, if any
        self._worklist_folder: Path | None = None
        self._review_cell = ""
        self._live_was_on = False
        self._resume_folder = False
        self._closing = False
        self._closed_clean = False

        # widgets
        self.banner = ErrorBanner()
        self.panel = DevicePanel(rig, self.worker, ask=self.ask)
        self.lab = lab or LabSettings()
        self.form = ScanForm()
        self.form.set_identity_required(self.lab.require_identity)
        if scan is not None:
            self.form.set_config(scan)
        self.form.position_mm = lambda: self.panel.position[:2] if self.panel.position else None
        self.form.focus_um = lambda: self.panel.position[2] if self.panel.position else None
        self.form.rig_config = rig.config
        self.form.update_estimate()
        self.live = LiveViewWidget(
            rig.config.camera.pixel_size_um, bit_depth=rig.config.camera.bit_depth
        )
        self.live_session.set_presets(self.form.exposures())
        self._wheel_guard = guard_wheel(self.form)
        guard_wheel(self.panel, self._wheel_guard)
        self.scan_view = ScanView()
        self.results = ResultsPanel()
        self.results.reference = self.lab.reference
        self.results.gallery.set_references(choose_reference_cells(self.lab.reference_cells))
        self.results.gallery.pixel_size_um = rig.config.camera.pixel_size_um

        self.red_cells = RedCellsPanel()
        self.overview = SlideOverview()
        self.overview.configure(rig.config, self._fov_mm())
        self.overview_feed = OverviewFeed(
            self.overview,
            self.form,
            # the map's field (the camera's where it answers, else its configuration): a rig
            # not connected yet still shows the set-up's region
            lambda cfg: scan_plan(cfg, self.overview.fov_mm, rig.config),
            lambda: self._worklist_folder,
            self,
        )
        self.overview_feed.refresh()

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
        self.tabs.addTab(self.overview, "Slide")
        self.tabs.addTab(self.results, "Cells and differential")
        self.tabs.addTab(self.red_cells, "Red cells and platelets")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([490, 1010])
        self.main_split = split
        # the devices and set-up column folds away for review (a laptop's width goes to the
        # cells); the corner button says so and brings it back
        self.setup_toggle = QToolButton()
        self.setup_toggle.setCheckable(True)
        self.setup_toggle.setChecked(True)
        self.setup_toggle.setText("Hide set-up")
        self.setup_toggle.setToolTip("Show or hide the Devices / Scan set-up column")
        self.setup_toggle.toggled.connect(self.show_setup_column)
        self.tabs.setCornerWidget(self.setup_toggle, Qt.Corner.TopLeftCorner)
        self.tabs.currentChanged.connect(self._on_tab)
        self._left_width = 0
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
        self.overview.region_drawn.connect(self.form.set_region_corners)
        self.overview.move_requested.connect(self.move_to_clicked)
        self.panel.connection_changed.connect(self._on_connection)
        self.panel.wavelength_requested.connect(
            lambda nm: self.live_session.start(wavelength_nm=nm)
        )
        self.panel.exposure_requested.connect(self._set_exposure)
        self.panel.autofocus_requested.connect(self.autofocus)
        self.live.wavelength_requested.connect(lambda nm: self.live_session.start(wavelength_nm=nm))
        self.live_session.started.connect(self.live.set_source)
        self.live_session.started.connect(lambda _s, nm, ms: self.panel.show_live_settings(nm, ms))
        self.live_session.preset_changed.connect(self.form.set_exposure)
        self.live.auto_exposure_requested.connect(self.live_session.auto_expose)
        self.live.move_requested.connect(self.move_to_clicked)
        self.scan_view.mosaic.move_requested.connect(self.move_to_clicked)
        self.live_session.auto_exposed.connect(self._auto_exposed)
        self.live_session.stopped.connect(lambda: self.live.set_source(None))
        self.live_session.refused.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.live.source_failed.connect(self._live_failed)
        self.live.saver.saved.connect(
            lambda path: self.statusBar().showMessage(f"frame saved to {path}", 15_000)
        )
        self.live.saver.failed.connect(lambda text: self.banner.show_message(text))
        for key, (dx, dy) in {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
        }.items():
            # only while the image itself has focus (click it): never from a spin box
            sc = QShortcut(QKeySequence(key), self.live.glw)
            sc.setContext(Qt.ShortcutContext.WidgetShortcut)
            sc.activated.connect(lambda dx=dx, dy=dy: self.panel.jog(dx, dy))
        self.scan_view.start_requested.connect(self.start_scan)
        self.scan_view.pause_requested.connect(self.controller.pause)
        self.scan_view.resume_requested.connect(self._resume)
        self.scan_view.abort_requested.connect(self._abort)
        self.controller.state_changed.connect(self._on_state)
        self.controller.progress.connect(self._on_progress)
        self.controller.preparing.connect(self.scan_view.set_preparing)
        self.controller.plan_ready.connect(self._on_plan)
        self.controller.finished.connect(self._on_finished)
        self.controller.device_error.connect(self._on_device_error)
        self.controller.log.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.controller.end_product.connect(
            lambda what, done, total: self.statusBar().showMessage(
                f"finishing the scan: {what} {done}/{total}", 10_000
            )
        )
        self.controller.log.connect(self.scan_view.log_event)
        self.controller.device_error.connect(
            lambda t: self.scan_view.log_event(f"device error: {t}")
        )
        self.controller.analysis_error.connect(
            lambda i, t: self.scan_view.log_event(f"analysis of tile {i} failed: {t}")
        )
        self.controller.differential.connect(self._on_differential)
        self.controller.stopped.connect(self._on_stopped)
        self.controller.analysis_error.connect(self._on_analysis_error)
        self.loader.tile_ready.connect(self._stored_tile)
        self.loader.result_ready.connect(self._stored_result)
        self.loader.done.connect(self._stored_done)
        self.loader.failed.connect(self._stored_failed)
        self.results.cell_activated.connect(self._show_cell)
        self.scan_view.back_requested.connect(self.back_to_review)
        self.results.failed.connect(self.banner.show_error)
        self.red_cells.failed.connect(self.banner.show_error)
        self.red_cells.review_saved.connect(self.results.on_red_cell_review_saved)
        self.red_cells.cell_activated.connect(self._show_cell)
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
        self.lay_out_for(w, h)
        self.move(screen.availableGeometry().topLeft())

    def show_setup_column(self, show: bool) -> None:
        sizes = self.main_split.sizes()
        total = sum(sizes)
        if not show and sizes[0] > 0:
            self._left_width = sizes[0]
            self.main_split.setSizes([0, total])
        elif show and sizes[0] == 0:
            left = self._left_width or min(490, total // 3)
            self.main_split.setSizes([left, total - left])
        self.setup_toggle.setText("Hide set-up" if show else "Show set-up")
        if self.setup_toggle.isChecked() != show:
            self.setup_toggle.setChecked(show)

    def _on_tab(self, index: int) -> None:
        """Reviewing on a narrow screen (a 1366 px laptop): the cells get the set-up
        column's width; back on Live or Scan it returns."""
        narrow = self.width() < NARROW_PX
        if self.tabs.widget(index) is self.results:
            if narrow:
                self.show_setup_column(False)
        elif narrow and not self.setup_toggle.isChecked():
            self.show_setup_column(True)

    def lay_out_for(self, w: int, h: int) -> None:
        """Size the window and give the set-up column the width its form needs (no
        horizontal scroll bar, nothing clipped), the rest to the images."""
        self.resize(w, h)
        form_w = self.form.minimumSizeHint().width() + 40  # + the scroll bar and frame
        left = min(max(490, form_w), max(380, int(0.36 * w), form_w))
        self.main_split.setSizes([left, w - left])

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for label, action, shortcut in (
            ("Open scan for review...", self._open_stored_dialog, "Ctrl+Shift+O"),
            ("Worklist...", lambda: self.show_worklist(), "Ctrl+L"),  # not with `checked`
        ):
            act = QAction(label, self)
            act.setShortcut(QKeySequence(shortcut))
            act.triggered.connect(action)
            file_menu.addAction(act)
        file_menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)  # asks first when a scan is running
        file_menu.addAction(quit_action)
        self.file_menu = file_menu
        menu = self.menuBar().addMenu("&Scan")
        for text, slot, key in (
            ("Open scan set-up...", self._open_scan, QKeySequence.StandardKey.Open),
            ("Save scan set-up...", self._save_scan, QKeySequence.StandardKey.Save),
            ("Start scan", self.start_scan, None),
            ("Resume interrupted scan...", self._resume_dialog, None),
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
        help_menu = self.menuBar().addMenu("&Help")
        guide = QAction("Operator's guide", self)
        guide.setShortcut(QKeySequence("F1"))
        guide.triggered.connect(self.show_help)
        help_menu.addAction(guide)
        about = QAction("About uvscope", self)
        about.triggered.connect(lambda: QMessageBox.about(self, "About uvscope", about_text()))
        help_menu.addAction(about)

    def show_help(self) -> HelpDialog:
        dialog = HelpDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_on_start_screen(self) -> None:
        """Open maximised on the screen the operator starts it on (the one under the
        mouse pointer; the primary screen otherwise), not in a corner at a fixed size."""
        screen = QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            self.move(area.topLeft())
            self.lay_out_for(area.width(), area.height())  # the set-up column's share
            self.setScreen(screen)
        self.showMaximized()

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

        x, y, z = self.panel.position
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
                half = af.settings.range_um / 2
                self.banner.show_message(
                    f"Autofocus found no focus here (searched z {z:.1f} um +- {half:g} um): "
                    f"{result.message}.\n\nWhat to do: move to a field with cells, focus "
                    "roughly by hand to within that range, then try again."
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

    def move_to_clicked(self, x_mm: float, y_mm: float) -> None:
        """Move the stage to a double-clicked point, inside the soft limits, once confirmed."""
        if self.controller.running:
            self.statusBar().showMessage("the scan owns the stage: no moves during a scan", 8000)
            return
        st = self.rig.config.stage
        (x0, x1), (y0, y1) = st.x_limits_mm, st.y_limits_mm
        if not (x0 <= x_mm <= x1 and y0 <= y_mm <= y1):
            self.banner.show_message(
                f"x {x_mm:.3f} mm, y {y_mm:.3f} mm is outside the stage's soft limits "
                f"(x {x0}-{x1} mm, y {y0}-{y1} mm): nothing was moved."
            )
            return
        if self.ask("Move the stage?", f"Move the stage to x {x_mm:.4f} mm, y {y_mm:.4f} mm?"):
            self.panel.go_to(x_mm, y_mm)
            self.scan_view.log_event(f"moved to x {x_mm:.4f} mm, y {y_mm:.4f} mm (clicked)")

    def _auto_exposed(self, result: Any) -> None:
        nm = self.live_session.wavelength_nm
        text = (
            f"auto exposure {nm} nm: {result.exposure_ms:.3g} ms, bright part at "
            f"{100 * result.bright_fraction:.0f} % of full scale"
        )
        if not result.converged:
            text += " (at the camera's limit or out of tries: check the light and the field)"
        self.statusBar().showMessage(text, 15_000)

    def _on_position(self, x: float, y: float, z: float) -> None:
        self.live.stage_mm = (x, y)
        self.overview.set_position(x, y)

    def _fov_mm(self) -> tuple[float, float]:
        """The camera's field on the stage, from the camera where it answers, else from
        its configuration (a rig not connected yet)."""
        cam = self.rig.config.camera
        try:
            w, h = self.rig.camera.width_px, self.rig.camera.height_px
        except UvscopeError:
            w, h = cam.width_px, cam.height_px
        return fov_mm(w, h, cam.pixel_size_um)

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

    # ------------------------------------------------------------------ stored scans
    def _open_stored_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a finished scan for review")
        if path:
            self.open_scan(Path(path))

    def show_worklist(self, folder: Path | None = None) -> WorklistDialog:
        """The scans of a folder (the last one used, else the scan set-up's parent folder)."""
        if folder is None:
            folder = self._worklist_folder
        if folder is None and self.form.output_dir.text().strip():
            folder = Path(self.form.output_dir.text().strip()).parent
        dialog = WorklistDialog(folder, self)
        dialog.open_requested.connect(self.open_scan)
        dialog.finished.connect(
            lambda _r: setattr(self, "_worklist_folder", Path(dialog.folder_edit.text() or "."))
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_scan(self, folder: Path) -> bool:
        """Show a stored scan for review, re-review, sign-off and report: no rig needed.
        Everything the last scan left on screen is replaced; a running scan is never hidden."""
        if self.controller.running:
            self.banner.show_message(
                "A scan is running: open a stored scan once it has finished (the running "
                "scan's cells are on screen until then)."
            )
            return False
        try:
            scan = open_stored_scan(folder)
            self.results.open_stored(scan.folder, scan.sample, scan.analysed)
            self.results.gallery.pixel_size_um = scan.pixel_size_um
        except UvscopeError as err:
            self.banner.show_error(f"open {folder}", err)
            return False
        self.banner.hide()
        self.stored = scan
        self.scan_view.mosaic.clear_tiles()
        fx, fy = scan.fov_mm
        self.scan_view.mosaic.set_plan(scan.positions_mm, fx * 1e3, fy * 1e3)
        self.overview.clear_tiles()  # the stored scan's tiles are drawn as they are read
        self.overview.fov_mm = scan.fov_mm
        self.scan_view.set_state(RunState.IDLE)
        self.scan_view.set_total(len(scan.positions_mm), len(scan.tiles))
        self.scan_view.log_event(f"opened {folder} for review ({scan.status})")
        if scan.differential is not None:
            self.results.show_analysis_differential(scan.differential)
        self.red_cells.load(scan.folder)  # a clear "not analysed" state when it was not
        self.setWindowTitle(
            f"uvscope - {self.rig.config.name} - reviewing {scan.sample.id or folder.name}"
        )
        self.loader.load(scan)
        self.tabs.setCurrentWidget(self.results)
        self.statusBar().showMessage(f"reading {len(scan.tiles)} tiles of {folder}...")
        return True

    def _stored_tile(self, gen: int, tile: Any) -> None:
        if gen == self.loader.generation:
            self.scan_view.mosaic.add_tile(tile)
            self.overview.add_tile(tile.x_mm, tile.y_mm)

    def _stored_result(self, gen: int, index: int, images: Any, thumbs: Any) -> None:
        if gen == self.loader.generation:
            self.scan_view.mosaic.update_tile(index, images)
            self.results.add_cells(thumbs)

    def _stored_failed(self, gen: int, text: str) -> None:
        if gen == self.loader.generation:
            self.banner.show_message(text)

    def _stored_done(self, gen: int, tiles: int) -> None:
        if gen == self.loader.generation:
            self.results.stored_loaded()
            self.statusBar().showMessage(
                f"{tiles} tiles and {len(self.results.cells)} cells read for review", 10_000
            )

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
            resume = self._ask_about_folder(cfg)
            if resume is False and self.lab.require_identity:
                self.form.check_identity()  # a resumed scan keeps the identity it started with
        except UvscopeError as err:
            self.left_tabs.setCurrentIndex(1)
            self.banner.show_error("start the scan", err)
            return
        if resume is None:
            return
        self._resume_folder = resume
        self.banner.hide()
        # the last slide's numbers go at once, not when the models have loaded
        self.loader.generation += 1
        self.results.reset(
            Path(str(cfg.output_dir)), analysed=cfg.analysis.enabled, operator=cfg.sample.operator
        )
        self.results.set_identity(cfg.sample, Path(str(cfg.output_dir)))
        self.results.set_scanning(True)
        self.scan_view.back_button.setVisible(False)
        self._live_was_on = self.live_session.running
        self.panel.set_scanning(True)
        self.live_session.lock(
            "a scan is running (live view would fight it for the camera and the filter wheel)"
        )
        self.scan_view.set_state(RunState.PREPARING)
        self.tabs.setCurrentIndex(1)
        self.live_session.stop()
        if cfg.analysis.enabled:
            self.statusBar().showMessage("loading the analysis models...")
        # in the device worker, after live view has stopped: the folder's checks and model
        # loading (``prepare_scan``, once) never block the GUI
        self.worker.submit(
            "load the analysis models" if cfg.analysis.enabled else "start the scan",
            self.controller.prepare,
            cfg,
            Path(str(cfg.output_dir)),
            resume,
            on_done=lambda prepared: self._start_engine(cfg, prepared),
            on_error=self._analysis_refused,
        )

    def _analysis_refused(self, err: BaseException) -> None:
        """The folder was refused, or the models did not load or do not fit the scan: nothing
        was acquired; a model's reason goes beside the Models field (the banner says it too)
        and the scan does not start."""
        self.statusBar().clearMessage()
        if isinstance(err, ModelError):
            self.left_tabs.setCurrentIndex(1)
            self.form.show_model_error(err)
        self._scan_over()

    def _ask_about_folder(self, cfg: ScanConfig) -> bool | None:
        """False: a new folder; True: resume the interrupted scan there; None: don't start."""
        try:
            state = folder_state(Path(str(cfg.output_dir)))
        except ConfigError as err:
            self.form.show_errors(err)  # beside the output folder, not as a model failure
            raise
        if state.kind == "new":
            return False
        if state.kind == "finished":
            finished = ConfigError(
                f"scan set-up\n  output_dir: {state.path} holds a finished scan "
                f"({state.status}): choose a new folder"
            )
            self.form.show_errors(finished)
            raise finished
        if not self.ask(
            "Resume the interrupted scan?",
            f"{state.path} holds an interrupted scan ({state.tiles_done} of "
            f"{state.tiles_total} tiles). Resume it with its own set-up? Finished tiles are "
            "kept and not taken again.",
        ):
            return None
        self.form.set_config(state.config().replace(output_dir=state.path))
        return True

    def resume_scan(self, folder: Path) -> None:
        """Finish an interrupted scan from the folder it left (Scan menu)."""
        try:
            state = folder_state(folder)
            if state.kind != "interrupted":
                raise ConfigError(
                    f"resume\n  output_dir: {folder} has no interrupted scan to resume "
                    f"({'it is finished' if state.kind == 'finished' else 'no scan there'})"
                )
            self.form.set_config(state.config().replace(output_dir=folder))
        except UvscopeError as err:
            self.banner.show_error(f"resume {folder}", err)
            return
        self.start_scan()

    def _resume_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Resume an interrupted scan")
        if path:
            self.resume_scan(Path(path))

    def _start_engine(self, cfg: ScanConfig, prepared: PreparedScan) -> None:
        out, analysis = prepared.engine.out_dir, prepared.analysis
        self.loader.generation += 1  # a stored scan still being read: its tiles are dropped
        self.stored = None
        self.setWindowTitle(f"uvscope - {self.rig.config.name}")
        self.scan_view.mosaic.clear_tiles()
        self.scan_view.analysis_on = analysis is not None
        self.scan_view.log_event(
            f"{'resuming' if self._resume_folder else 'starting'} scan into {out}"
            + (" with analysis" if analysis is not None else " (no analysis)")
        )
        self.results.reset(out, analysed=analysis is not None, operator=cfg.sample.operator)
        self.results.gallery.pixel_size_um = self.rig.config.camera.pixel_size_um
        self.results.set_identity(cfg.sample, out)
        self.results.set_scanning(True)

        self.red_cells.reset(out, analysed=analysis is not None)
        self._watch_target(cfg, out)
        if analysis is not None:
            self.statusBar().showMessage("analysis models loaded", 5000)
            lower_analysis_threads()  # the window wins the CPU from the networks
        if self.tile_worker is not None:
            self.tile_worker.shutdown(wait=False)
        tw = TileWorker(cfg.wavelengths[0].nm, self)
        tw.tile_ready.connect(self.scan_view.mosaic.add_tile)
        tw.tile_ready.connect(lambda t: self.overview.add_tile(t.x_mm, t.y_mm))
        tw.tile_ready.connect(lambda t: self.overview.set_position(t.x_mm, t.y_mm))
        self.overview.clear_tiles()
        tw.tile_ready.connect(lambda t: self.panel.show_scan_position(t.x_mm, t.y_mm))
        tw.result_ready.connect(self._on_result)
        tw.failed.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.tile_worker = tw
        try:
            self.controller.start(prepared, tw)
        except UvscopeError as err:
            self.banner.show_error("start the scan", err)
            self._scan_over()

    def _on_plan(self, plan: GridPlan) -> None:
        fx, fy = plan.fov_mm
        self.scan_view.set_total(len(plan.tiles))
        self.scan_view.mosaic.set_plan([(t.x_mm, t.y_mm) for t in plan.tiles], fx * 1e3, fy * 1e3)
        self.overview.fov_mm = plan.fov_mm
        self.overview_feed.show_plan(plan)

    def _on_state(self, state: RunState) -> None:
        self.scan_view.set_state(state)
        self.scan_view.log_event(f"state: {state.value}")

    def _on_progress(self, p: ScanProgress) -> None:
        self.scan_view.set_progress(p)
        self._done_now = p.done

    def _watch_target(self, cfg: ScanConfig, out: Path) -> None:
        """A target-count scan: its projection to the target under the progress (updated
        as the counts arrive); any other scan: none."""
        self.scan_view.target_label.setText(
            f"Counting {cfg.target.wbc} WBCs: an estimate follows once 10 tiles are analysed."
            if cfg.target is not None
            else ""
        )
        self._done_now = 0
        self._target_watch: TargetWatch | None = None
        if cfg.target is not None:
            reach = len(self.controller.plan(cfg).tiles)
            self._target_watch = TargetWatch(cfg.target.wbc, reach, lambda: folder_bytes(out))

    def _on_result(self, index: int, images: dict[str, Any], thumbs: list[Any]) -> None:
        self.scan_view.mosaic.update_tile(index, images)
        self.scan_view.tile_analysed()
        self.results.add_cells(thumbs)

    def _on_differential(self, diff: Any) -> None:
        self.results.show_analysis_differential(diff)
        self.scan_view.set_counted(diff.total)
        watch = getattr(self, "_target_watch", None)
        if watch is not None:
            analysed = self.scan_view.run.analysed
            est = watch.update(diff.total, analysed, self._done_now, self.scan_view.clock())
            self.scan_view.run.projected_end_s = watch.projected_end_s
            if est is not None:
                self.scan_view.target_label.setText(f"Estimate: {est.text()}")

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
        self.scan_view.log_event(text + (f": {summary.message}" if summary.message else ""))
        self.red_cells.load(summary.out_dir)
        if summary.status == "failed":
            self.banner.show_message(
                f"The scan failed: {summary.message}\n\nWhat to do: the files written so far "
                "are intact; fix the cause, then Scan > Resume interrupted scan... on "
                f"{summary.out_dir} (or `uvscope scan --resume {summary.out_dir}`)."
            )
        self._scan_over()

    def _scan_over(self) -> None:
        dismiss = getattr(self.ask, "dismiss", None)
        if dismiss is not None and not self._closing:
            dismiss()  # "stop the scan?" / "abort?" about a scan that has ended
        self.panel.set_scanning(False)
        self.results.set_scanning(False)
        self.results.update_signoff_state()
        self.live_session.unlock()
        self.scan_view.set_state(
            self.controller.engine.state if self.controller.engine else RunState.IDLE
        )
        if self._live_was_on and not self._closing:
            self.live_session.start()

    def _show_cell(self, cell: Any) -> None:
        self.tabs.setCurrentIndex(1)
        self.scan_view.mosaic.center_on(cell.x_um, cell.y_um)
        self.scan_view.back_button.setVisible(True)
        self._review_cell = cell.cell_id

    def back_to_review(self) -> None:
        """From the mosaic back to the gallery, the cell that was shown still selected."""
        self.scan_view.back_button.setVisible(False)
        self.tabs.setCurrentWidget(self.results)
        if self._review_cell in self.results.cells:
            self.results.gallery.select(self._review_cell)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._closed_clean:
            event.accept()
            return
        if self.controller.running:
            out = self.controller.out_dir
            stop = self.ask(
                "A scan is running",
                "Stop the scan now and close? Every tile taken so far is kept (the scan "
                "stops at the next tile boundary); the analysis is left for later: finish "
                f"with `uvscope scan --resume {out}` or `uvscope analyze {out}`.",
            )
            if not stop and not self.controller.running:
                # the scan ended while the question was up (it closed itself): nothing is
                # left to stop, so the window closes as the operator asked
                self._shutdown()
                event.accept()
                return
            if not stop:
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
        self.loader.shutdown(wait=True)
