"""Runs one ScanEngine for the window: starts it, relays its events, stops it cleanly.

The engine runs in its own thread; its psygnal events reach the GUI through a QtRelay, and
tiles (plus analysis results) go to a TileWorker for display preparation, never to the GUI
thread directly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.events import RunState
from uvscope.acquisition.grow import scan_plan
from uvscope.acquisition.plan import GridPlan, fov_mm
from uvscope.acquisition.prepare import AnalysisFactory, prepare_scan
from uvscope.acquisition.tiles import TileSink
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.errors import ScanError
from uvscope.gui.analysis_adapter import analysis_signals, to_differential
from uvscope.gui.qt_relay import QtRelay
from uvscope.gui.tile_worker import TileWorker
from uvscope.io.progress import end_products
from uvscope.logs import attach_scan_log

# the analysis sink an ``AnalysisFactory`` builds: its psygnal ``tile_analysed`` and
# ``differential_changed`` signals feed the mosaic and the results


def default_analysis_factory() -> AnalysisFactory | None:
    """The analysis pipeline's session sink when installed, else None (scan without analysis)."""
    try:
        import uvscope.analysis.session  # noqa: F401
    except ImportError:
        return None
    from uvscope.gui.analysis_adapter import session_factory

    return session_factory


@dataclass(frozen=True)
class PreparedScan:
    """A scan checked and wired off the GUI thread (``ScanController.prepare``): its engine
    holds the folder's lock until ``ScanController.start`` runs it or ``release``."""

    engine: ScanEngine
    #: the analysis sink ``prepare_scan`` built (None: analysis off); its signals feed the
    #: mosaic and the results
    analysis: TileSink | None

    def release(self) -> None:
        """Give the folder up unscanned (the window closed, or the start was refused)."""
        self.engine.release()


class ScanController(QObject):
    """One scan at a time; the signals below always fire on the GUI thread."""

    state_changed = Signal(object)  # RunState
    progress = Signal(object)  # ScanProgress
    preparing = Signal(object)  # PrepProgress: darks, background, focus points
    finished = Signal(object)  # ScanSummary
    device_error = Signal(str)
    log = Signal(str)
    plan_ready = Signal(object)  # GridPlan
    differential = Signal(object)  # gui.results.Differential
    analysis_error = Signal(int, str)  # tile index, message
    stopped = Signal()  # after stop_and_wait: the engine thread has ended
    end_product = Signal(str, int, int)  # end-of-scan step of this scan: what, done, total

    def __init__(
        self,
        rig: Rig,
        analysis_factory: AnalysisFactory | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.rig = rig
        self.analysis_factory = analysis_factory
        self.engine: ScanEngine | None = None
        self.tiles: TileWorker | None = None
        self.out_dir: Path | None = None
        self._relays: list[QtRelay] = []
        self._analysis: Any = None

    @property
    def running(self) -> bool:
        return self.engine is not None and self.engine.state in (
            RunState.PREPARING,
            RunState.RUNNING,
            RunState.PAUSED,
        )

    def plan(self, scan: ScanConfig) -> GridPlan:
        """The engine's plan: from the camera's image geometry as it runs (binning, ROI)."""
        cam = self.rig.camera
        fov = fov_mm(cam.width_px, cam.height_px, self.rig.pixel_size_um)
        return scan_plan(scan, fov, self.rig.config)

    def prepare(self, scan: ScanConfig, out_dir: Path, resume: bool = False) -> PreparedScan:
        """The scan checked and wired by ``prepare_scan``, as `uvscope scan` wires it: the
        folder's checks first (a refused scan leaves the folder as it was), then the analysis
        sink (it loads models: call this off the GUI thread). ``start`` runs what it returns;
        ``PreparedScan.release`` gives it up instead."""
        factory = self.analysis_factory
        built: list[TileSink] = []

        def analysis(*args: Any) -> TileSink:  # called once the checks have passed
            if factory is None:
                raise ScanError(
                    "analysis is on but the analysis pipeline is not available in "
                    "this installation; turn analysis off to scan without it"
                )
            built.append(factory(*args))
            return built[-1]

        engine = prepare_scan(
            self.rig,
            scan,
            out_dir,
            analysis=analysis,
            resume=resume,
            on_device_error="pause",
        )
        return PreparedScan(engine, built[0] if built else None)

    def start(self, prepared: PreparedScan, tiles: TileWorker) -> None:
        """Start a prepared scan in the engine thread; raises ScanError if one is running
        already (the prepared scan's folder is then given up)."""
        engine, analysis = prepared.engine, prepared.analysis
        try:
            if self.running:
                raise ScanError("a scan is running; pause or abort it first")
            if engine.plan is None:
                raise ScanError("the scan was prepared but has no plan")
        except BaseException:
            prepared.release()
            raise
        plan = engine.plan
        self._analysis = analysis
        self.out_dir = engine.out_dir
        self.tiles = tiles
        for old in self._relays:  # the previous scan's engine can now be freed
            old.detach()
            old.deleteLater()
        attach_scan_log(engine, engine.out_dir)  # OUT/uvscope.log, as for `uvscope scan`
        engine.catch_up_display = tiles.put_tile  # a resumed count-N scan's earlier tiles
        relay = QtRelay(engine.events, self)
        relay.on("state_changed", self.state_changed.emit)
        relay.on("progress", self.progress.emit)
        relay.on("preparing", self.preparing.emit)
        relay.on("device_error", self.device_error.emit)
        relay.on("log", self.log.emit)
        relay.on("finished", self._on_finished)
        engine.events.tile_acquired.connect(tiles.put_tile)  # engine thread -> worker queue
        self._relays = [relay]
        # the end-of-scan steps (last mosaic bands and files, report) of this scan's folder
        erelay = QtRelay({"step": end_products.step}, self)
        erelay.on("step", self._on_end_product)
        self._relays.append(erelay)
        if self._analysis is not None:
            signals = analysis_signals(self._analysis)
            signals["tile_analysed"].connect(tiles.put_result)  # analysis thread -> worker
            arelay = QtRelay(signals, self)
            arelay.on("differential_changed", lambda d: self.differential.emit(to_differential(d)))
            if "error" in signals:
                arelay.on("error", lambda index, msg: self.analysis_error.emit(int(index), msg))
            self._relays.append(arelay)
        self.engine = engine
        self.plan_ready.emit(plan)
        engine.start()

    def _on_finished(self, summary: object) -> None:
        self.finished.emit(summary)

    def _on_end_product(self, scan: str, what: str, done: int, total: int) -> None:
        if self.out_dir is not None and Path(scan).resolve() == Path(self.out_dir).resolve():
            self.end_product.emit(what, done, total)

    def pause(self) -> None:
        if self.engine is not None:
            self.engine.pause()

    def resume(self) -> None:
        if self.engine is not None:
            self.engine.resume()

    def abort(self) -> None:
        if self.engine is not None:
            self.engine.abort()

    def stop_and_wait(self, leave_analysis: bool = False) -> None:
        """Abort, then emit ``stopped`` once the engine thread has closed every file.

        ``leave_analysis``: stop at the next tile boundary and do not wait for the analysis
        of the tiles taken (``uvscope analyze`` or ``--resume`` finishes it later):
        ``stopped`` comes once every tile is on disk and the folder says "interrupted".
        """
        engine = self.engine
        if engine is None:
            self.stopped.emit()
            return
        if leave_analysis:
            engine.leave_analysis()
        else:
            engine.abort()

        def wait() -> None:
            if leave_analysis:
                engine.safe_to_exit.wait()
            else:
                engine.join()
            self.stopped.emit()  # queued to the GUI thread by Qt

        threading.Thread(target=wait, name="uvscope-stop", daemon=True).start()
