"""The scan engine: one scan from a ScanConfig on a Rig into a scan folder.

A scan is one queue of steps (``steps``) run by the scan loop (``runner.ScanLoop``: read it
first): darks and a background, the focus, then the tiles, with re-focus and new backgrounds
queued as the tiles call for them, on a ``RigEngine`` (``rig_engine``, the hardware side). This
module owns the run's life: the checks before anything is written, the folder, the loop, and
the end: sinks closed, manifest and events saying how it ended, the summary. Other threads
control it only through ``pause``, ``resume``, ``interrupt``, ``leave_analysis`` and ``abort``,
honoured at tile boundaries, and follow it through ``events`` (psygnal, no Qt).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from uvscope.acquisition.acquirer import FocusSource
from uvscope.acquisition.background import Backgrounds
from uvscope.acquisition.background_steps import BackgroundKeeper
from uvscope.acquisition.catch_up import catch_up_resumed
from uvscope.acquisition.control import RunControl
from uvscope.acquisition.drift import DriftMonitor
from uvscope.acquisition.events import RunState, ScanEvents, ScanSummary
from uvscope.acquisition.focus_control import FocusController
from uvscope.acquisition.folder_setup import manifest_base, reopen_folder
from uvscope.acquisition.grow import (
    GrowingPlan,
    RingPlan,
    grown_plan_entry,
    ring_plan,
    smear_mm,
)
from uvscope.acquisition.outcome import Outcome, crash_text, failure_text, resume_hint
from uvscope.acquisition.plan import GridPlan, fov_mm, plan_tiles
from uvscope.acquisition.preflight import check_scan_on_rig
from uvscope.acquisition.recovery import DeviceErrorPolicy
from uvscope.acquisition.resume import ResumePoint, check_resume
from uvscope.acquisition.retry import RetryBudget
from uvscope.acquisition.reuse import claim_for_new_scan, remove_startup_files
from uvscope.acquisition.rig_engine import FocusSetup, RigEngine
from uvscope.acquisition.runner import LoopParts, ProgressBase, ScanLoop
from uvscope.acquisition.sinks import SinkSet
from uvscope.acquisition.steps import (
    BeginTilesStep,
    FixedPlan,
    FocusStep,
    PlanSource,
    ScanStep,
)
from uvscope.acquisition.tiles import Tile, TileSink, TileSpec
from uvscope.acquisition.writer import TileWriter
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.errors import (
    ConfigError,
    DeviceError,
    ScanAborted,
    ScanError,
    StorageError,
    UvscopeError,
)
from uvscope.io.scanfolder import ScanFolder, TileRecord

__all__ = ["FocusSource", "ScanEngine"]


class ScanEngine:
    """Runs one scan from a ScanConfig on a Rig into a scan folder.

    ``on_device_error``: "stop" ends the scan cleanly (headless; finish with --resume),
    "pause" pauses with the error shown until ``resume()`` retries or ``abort()`` ends it (GUI).
    """

    def __init__(
        self,
        rig: Rig,
        scan: ScanConfig,
        out_dir: str | Path,
        sinks: Sequence[TileSink] = (),
        resume: bool = False,
        on_device_error: str = "stop",
        tile_retries: int | None = None,
        focus_source: FocusSource | None = None,
        accept_rig_change: str | None = None,
    ) -> None:
        if on_device_error not in ("stop", "pause"):
            raise ConfigError("on_device_error must be 'stop' or 'pause'")
        self.rig = rig
        self.scan = scan
        self.out_dir = Path(out_dir)
        self.user_sinks = list(sinks)
        self.resume_existing = resume
        self.on_device_error = on_device_error
        #: the one retry policy (``scan.retries``; ``tile_retries`` overrides its per-tile part)
        self.retry = RetryBudget(
            scan.retries.per_tile if tile_retries is None else tile_retries, scan.retries.per_scan
        )
        self.focus_source = focus_source
        #: a reason to resume on a rig that differs from the manifest's (recorded)
        self.accept_rig_change = accept_rig_change
        self.events = ScanEvents()
        self.control = RunControl(self.events)
        self.plan: GridPlan | None = None
        #: a target-count scan's rings (``grow``): ``plan`` is then every tile it may reach
        self.rings: RingPlan | None = None
        self.folder: ScanFolder | None = None
        self.keeper: BackgroundKeeper | None = None
        #: the hardware side of the run (darks, backgrounds, focus, tiles)
        self.rig_engine: RigEngine | None = None
        #: the loop over the scan's steps (``runner``)
        self.runner: ScanLoop | None = None
        #: where the tiles come from (None: the plan's tiles not yet done); a growing source
        #: extends the scan while its stop rule has not fired
        self.plan_source: PlanSource | None = None
        self._done: dict[int, TileRecord] = {}  # tiles a resumed scan found done
        self.summary: ScanSummary | None = None
        #: set once every acquired tile is on disk and the manifest says how the scan ended
        #: (before a slow analysis finishes): a process may exit from then on
        self.safe_to_exit = threading.Event()
        #: the exception ``start``'s thread ended with (None: it returned)
        self.error: BaseException | None = None
        self.sink_errors: list[str] = []  # non-writer sinks that failed (scan still complete)
        #: called with each path before the scan folder writes it (tests inject a full disk)
        self.storage_hook: Callable[[Path], None] | None = None
        #: a resumed target-count scan's earlier tiles, each as it is counted again (the
        #: GUI's mosaic shows them; ``catch_up``)
        self.catch_up_display: Callable[[Tile], None] | None = None
        self._claimed: ScanFolder | None = None  # checked and locked by ``check``
        #: start-up files of an earlier start that acquired nothing, replaced by this one
        self._leftovers: list[Path] = []
        self._resume_point: ResumePoint | None = None
        self._sinks: SinkSet | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ what others read
    @property
    def state(self) -> RunState:
        return self.control.state

    @property
    def interrupt_reason(self) -> str:
        return self.control.interrupt_reason

    @property
    def backgrounds(self) -> Backgrounds | None:
        """The darks and background tiles are normalised with now (None before the first)."""
        return self.keeper.current if self.keeper is not None else None

    @property
    def focus_ctl(self) -> FocusController | None:
        """The focus source's builder and the per-tile focus check (None before the run)."""
        return self.rig_engine.focus if self.rig_engine is not None else None

    @property
    def drift(self) -> DriftMonitor | None:
        return self.keeper.drift if self.keeper is not None else None

    @property
    def running(self) -> bool:
        """``start``'s thread is still working."""
        return self._thread is not None and self._thread.is_alive()

    def resume_hint(self) -> str:
        return resume_hint(self.out_dir)

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Run the scan in a background thread; follow it through ``events``."""
        if self._thread is not None:
            raise ScanError("this engine has already been started")
        self._thread = threading.Thread(target=self._run_quiet, name="uvscope-scan", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> ScanSummary | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.summary

    def pause(self) -> None:
        """Hold at the next tile boundary, and hold every retry of a device error."""
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def interrupt(self, reason: str = "interrupted by the user") -> None:
        """Stop at the next tile boundary: frames in flight are read and saved, the manifest
        says "interrupted", and ``--resume`` finishes the scan. Safe from a signal handler."""
        self.control.interrupt(reason)

    def leave_analysis(self) -> None:
        """Stop at the next tile boundary and do not wait for the analysis sinks to finish
        (``uvscope analyze`` or ``--resume`` does that later)."""
        self.control.leave_analysis()

    def abort(self) -> None:
        """Stop as soon as possible: axes are stopped now, written files stay intact."""
        self.control.abort()
        for dev in (self.rig.stage, self.rig.focus):
            try:
                dev.stop()
            except DeviceError:
                pass

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Lock the folder and make every check a start or resume needs; writes nothing.

        Call it before building sinks that write into the folder (the analysis), so a refused
        scan leaves everything there as it was. ``run`` calls it if nobody did.
        """
        if self._claimed is not None:
            return
        self.rig.connect()  # the plan needs the camera's image geometry as it runs (binning)
        cam = self.rig.camera
        fov = fov_mm(cam.width_px, cam.height_px, self.rig.pixel_size_um)
        if self.scan.target is not None:
            self.rings = ring_plan(self.scan, fov, self.rig.config.stage, smear_mm(self.rig.config))
            self.plan = self.rings.grid
        else:
            self.plan = plan_tiles(self.scan, fov, self.rig.config.stage)
        check_scan_on_rig(self.scan, self.rig)  # before the folder is made or locked
        if not self.resume_existing:
            self._claimed, self._leftovers = claim_for_new_scan(self.out_dir)
            return
        folder = ScanFolder.claim(self.out_dir, "resume")
        try:
            self._resume_point = check_resume(
                folder,
                self._saved_part(folder, self.plan),
                self.rig.config,
                [w.nm for w in self.scan.wavelengths],
                self._tile_shape(),
                self.accept_rig_change,
            )
        except BaseException:
            folder.release()
            raise
        self._claimed = folder

    def _saved_part(self, folder: ScanFolder, plan: GridPlan) -> GridPlan:
        """The part of the plan an interrupted scan recorded: all of a fixed grid, the
        rings a target-count scan handed out (checked tile for tile by ``check_resume``)."""
        if self.rings is None:
            return plan
        saved = folder.manifest_section("plan")
        n = saved.get("tiles") if isinstance(saved, dict) else None
        if not isinstance(n, int) or not 0 <= n <= len(plan.tiles):
            raise ScanError(
                f"{folder.root}: the saved target-count scan's plan records {n!r} tiles, "
                f"this configuration reaches {len(plan.tiles)}; resume with the scan's own "
                "configuration and rig"
            )
        return replace(plan, tiles=plan.tiles[:n])

    def release(self) -> None:
        """Give up the folder's writer lock (``run`` does at its end)."""
        for folder in (self._claimed, self.folder):
            if folder is not None:
                folder.release()

    def _tiles_total(self) -> int:
        """The plan's tiles, with those a growing plan source added while the scan ran."""
        if self.runner is not None:
            return self.runner.progress.total
        return len(self.plan.tiles) if self.plan is not None else 0

    def _tile_shape(self) -> tuple[int, int]:
        return (int(self.rig.camera.height_px), int(self.rig.camera.width_px))

    # ------------------------------------------------------------------ run
    def _run_quiet(self) -> None:
        try:
            self.run()
        except BaseException as err:  # reported through events, the summary and ``error``
            self.error = err
        finally:
            self.safe_to_exit.set()

    def run(self) -> ScanSummary:
        """Run the scan in this thread; raises ScanError/StorageError after a clean stop."""
        t0_s = time.monotonic()
        self.control.set_state(RunState.PREPARING)
        outcome = Outcome()
        device_t0_s = self.rig.clock.now()
        try:
            loop = self._prepare(t0_s)
            self._catch_up()
            outcome.status, outcome.message = loop.run(self._first_steps())
            self._end_sinks(outcome.status)
        except ScanAborted as err:
            outcome.status, outcome.message = "aborted", str(err)
        except UvscopeError as err:
            outcome.fail(str(err))
        except Exception as err:
            outcome.fail(crash_text(err, self.folder))
        finally:
            self._close_unclosed_sinks(outcome)
            if self.runner is not None and self.runner.tiles_began:
                device_t0_s = self.runner.progress.device_t0_s  # the tiles' device time
        return self._conclude(outcome, t0_s, device_t0_s)

    def _prepare(self, t0_s: float) -> ScanLoop:
        """Checks and the folder; the loop over the scan's steps, from darks to the tiles."""
        if self._claimed is None:
            self.check()
        plan, claimed = self.plan, self._claimed
        if plan is None or claimed is None:
            raise ScanError("the scan folder was not checked")
        self.rig.connect()
        folder, done = self._open_folder(plan, claimed)
        folder.before_write = self.storage_hook
        recovery = DeviceErrorPolicy(
            self.retry, self.on_device_error, self.control, self.rig, folder, self.events
        )
        point = self._resume_point if self.resume_existing else None
        keeper = BackgroundKeeper(self.rig, self.scan, folder, self.events, self._log, point)
        self.keeper = keeper
        saved = folder.read_manifest().get("focus") if self.resume_existing else None
        growing = self._growing_plan(folder, done)
        engine = RigEngine(
            self.rig,
            self.scan,
            keeper,
            FocusSetup(plan, saved, self.focus_source, *_grow_focus(growing)),
            lambda: self.control.aborted,
            self._log,
        )
        self.rig_engine = engine
        control, events, clock = self.control, self.events, self.rig.clock
        parts = LoopParts(engine, engine.focus, keeper, recovery, control, events, folder, clock)
        base = ProgressBase(len(done), len(plan.tiles), t0_s, self.rig.clock.now())
        if growing is not None:
            base = replace(base, total=len(done) + growing.first_count())
            self.plan_source = growing
        todo = [t for t in plan.tiles if t.index not in done]
        self._done = done
        self.runner = ScanLoop(parts, self.plan_source or FixedPlan(todo), self._open_sinks, base)
        return self.runner

    def _catch_up(self) -> None:
        """A resumed target-count scan counts the tiles taken before first, so its count
        goes on from them instead of starting at 0 (``catch_up``)."""
        if not self.resume_existing or self.scan.target is None:
            return
        queued = catch_up_resumed(
            self.user_sinks, self.events.preparing.emit, self.control, self.catch_up_display
        )
        if queued is not None:
            self._log(
                "catch-up",
                f"{queued} tiles queued for the analysis: the cells of the tiles taken "
                "before the interrupt are counted first",
                tiles=queued,
            )

    def _growing_plan(self, folder: ScanFolder, done: dict[int, TileRecord]) -> GrowingPlan | None:
        """A target-count scan's plan source, ring by ring (None: a fixed grid, or a plan
        source given by the caller)."""
        if self.rings is None or self.plan_source is not None:
            return None
        saved = folder.read_manifest()["plan"]["tiles"] if self.resume_existing else 0
        return GrowingPlan(self.rings, self._record_grown, saved, list(done))

    def _record_grown(self, specs: Sequence[TileSpec]) -> None:
        """A target-count scan grew: its manifest's plan holds every tile handed out."""
        folder, rings = self.folder, self.rings
        if folder is None or rings is None:
            raise ScanError("the scan folder was not opened")
        folder.update_manifest(plan=grown_plan_entry(folder.read_manifest()["plan"], specs))
        ring = rings.rings[len(specs) - 1]
        self._log(
            "grow",
            f"ring {ring}: {len(specs)} tile{'s' if len(specs) != 1 else ''} planned "
            f"({len(specs) * rings.tile_area_mm2:.2f} mm2) towards {self.scan.stop_after_wbc} "
            "healthy WBCs",
            tiles=len(specs),
        )

    def _first_steps(self) -> list[ScanStep]:
        """The preparation: darks and background (or a resume's), the focus, the tiles begin."""
        if self.keeper is None:
            raise ScanError("the scan folder was not opened")
        return [*self.keeper.first_steps(), FocusStep(), BeginTilesStep()]

    def _open_sinks(self) -> SinkSet:
        """At the first tile: the drift monitor starts, the writer and the sinks open (the
        folder products, e.g. the stage mosaics, on the folder)."""
        folder, keeper = self.folder, self.keeper
        if folder is None or keeper is None:
            raise ScanError("the scan folder was not opened")
        keeper.start_drift_monitor(self._done.values())
        self._sinks = SinkSet(
            TileWriter(folder, save_raw=self.scan.save_raw),
            self.user_sinks,
            self.out_dir,
            self._log,
            self.sink_errors,
        )
        self._sinks.open(folder)
        return self._sinks

    def _open_folder(
        self, plan: GridPlan, claimed: ScanFolder
    ) -> tuple[ScanFolder, dict[int, TileRecord]]:
        """The checked folder, now written: a new manifest, or a resume's repairs."""
        if not self.resume_existing:
            manifest = manifest_base(self.scan, self.rig, plan, self._tile_shape())
            if self.rings is not None:  # a target-count scan records its tiles as it grows
                manifest["plan"] = grown_plan_entry(manifest["plan"], [])
            remove_startup_files(claimed, self._leftovers)
            self.folder = ScanFolder.create(self.out_dir, manifest, claimed=claimed)
            if self._leftovers:
                self.folder.log_event(
                    "reuse",
                    f"took over a folder in which an earlier start acquired nothing; "
                    f"replaced its {len(self._leftovers)} start-up file(s)",
                )
            return self.folder, {}
        point = self._resume_point
        if point is None:
            raise ScanError("the resumed scan folder was not checked")
        self.folder = claimed
        return claimed, reopen_folder(claimed, point, len(plan.tiles))

    # ------------------------------------------------------------------ the end
    def _end_sinks(self, status: str) -> None:
        """Every acquired tile on disk, "interrupted" said before a slow analysis finishes,
        the analysis, then the folder products (the stage mosaics): written, or dropped for
        an interrupted scan (``--resume`` writes them at its end)."""
        sinks, folder = self._sinks, self.folder
        if sinks is None or folder is None:
            raise ScanError("the scan ended before its sinks were opened")
        sinks.close_writer()
        if status == "interrupted":
            self._record_interrupt(folder, sinks.writer.written)
        sinks.close_others(self.control.leave_sinks)
        sinks.end_products(write=status != "interrupted")  # a failure fails the scan

    def _record_interrupt(self, folder: ScanFolder, written_now: int) -> None:
        """Tiles are on disk: say so in manifest and events before the analysis finishes."""
        runner = self.runner
        done = written_now + (runner.progress.done_before if runner is not None else 0)
        total = self._tiles_total()
        text = (
            f"{self.interrupt_reason}: stopped at a tile boundary with {done} of {total} "
            f"tiles saved; {self.resume_hint()}"
        )
        folder.update_manifest(status="interrupted")
        folder.log_event("interrupted", text, tiles_done=done, tiles_total=total)
        self.safe_to_exit.set()

    def _close_unclosed_sinks(self, outcome: Outcome) -> None:
        if self._sinks is None:
            return
        try:  # the folder products dropped first: a scan that ended early writes none
            self._sinks.close_unclosed(self.control.leave_sinks)
        except Exception as err:  # noqa: BLE001
            outcome.errors.append(str(err))
            if outcome.status == "complete":
                outcome.status, outcome.message = "failed", str(err)

    def _conclude(self, outcome: Outcome, t0_s: float, device_t0_s: float) -> ScanSummary:
        """Summary, manifest and events; the lock given up; raises for a failed or aborted
        scan (its files are intact)."""
        folder = self.folder
        summary = ScanSummary(
            status=outcome.status,
            out_dir=str(self.out_dir),
            tiles_total=self._tiles_total(),
            tiles_done=len(folder.verified_tiles()) if folder else 0,
            tiles_acquired_now=self.runner.acquired_now if self.runner is not None else 0,
            wall_s=time.monotonic() - t0_s,
            device_time_s=self.rig.clock.now() - device_t0_s,
            message=outcome.message,
            errors=outcome.errors + self.sink_errors,
        )
        self.summary = summary
        if folder is not None:
            self._save_summary(folder, summary)
        self.release()
        self.safe_to_exit.set()
        self.control.set_state(outcome.state)
        self.events.finished.emit(summary)
        if outcome.status == "failed":
            raise ScanError(failure_text(outcome.message, self.out_dir, folder, summary.tiles_done))
        if outcome.status == "aborted":
            raise ScanAborted(
                failure_text(outcome.message, self.out_dir, folder, summary.tiles_done)
            )
        return summary

    @staticmethod
    def _save_summary(folder: ScanFolder, summary: ScanSummary) -> None:
        try:
            folder.update_manifest(status=summary.status, summary=summary.__dict__)
            if summary.message and summary.status not in ("complete", "interrupted"):
                folder.log_event(summary.status, summary.message)
        except StorageError as err:
            summary.errors.append(str(err))

    def _log(self, kind: str, message: str, **extra: object) -> None:
        if self.folder is not None:
            self.folder.log_event(kind, message, **extra)
        self.events.log.emit(message)


def _grow_focus(
    growing: GrowingPlan | None,
) -> tuple[tuple[float, float] | None, tuple[TileSpec, ...]]:
    """A growing scan's focus map starts at its start tile and first covers the tiles it
    takes first (``FocusSetup.grow_from_mm``, ``first_tiles``)."""
    if growing is None:
        return None, ()
    return growing.rings.start_mm, tuple(growing.first_tiles())
