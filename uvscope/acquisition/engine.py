"""The scan engine: background and dark, then move -> settle -> expose per tile, to sinks.

One engine thread drives the devices. Device operations are overlapped where the hardware
allows: the stage moves to the next tile (and the wheel turns to the next filter) while the
camera reads out the last frame. The wavelength order alternates tile to tile, so the wheel
is already at the first filter of each new tile. Tiles go to sinks: the writer and the
analysis are lossless (the engine waits for them), a live view may drop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from uvscope.acquisition.background import Backgrounds, acquire_backgrounds, acquire_darks
from uvscope.acquisition.drift import DriftDecision, DriftMonitor
from uvscope.acquisition.events import RunState, ScanEvents, ScanProgress, ScanSummary
from uvscope.acquisition.focus_control import FocusController
from uvscope.acquisition.plan import GridPlan, fov_mm, plan_tiles
from uvscope.acquisition.resume import ResumePoint, check_resume, dark_path, rig_fingerprint
from uvscope.acquisition.retry import RetryBudget
from uvscope.acquisition.tiles import Tile, TileSink, TileSpec
from uvscope.acquisition.writer import TileWriter
from uvscope.config import ScanConfig
from uvscope.crashlog import save_traceback
from uvscope.drivers.rig import Rig
from uvscope.errors import (
    ConfigError,
    DeviceError,
    ScanAborted,
    ScanError,
    StorageError,
    UvscopeError,
)
from uvscope.io.mosaic import write_stage_mosaics
from uvscope.io.ome import ImageMeta, read_ome_tiff
from uvscope.io.scanfolder import ScanFolder, TileRecord

T = TypeVar("T")


class FocusSource(Protocol):
    """Gives the focus for a tile (a fixed z, a fitted focus map, ...)."""

    def z_at(self, x_mm: float, y_mm: float) -> float: ...


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
        self._claimed: ScanFolder | None = None  # checked and locked by ``check``
        self._resume_point: ResumePoint | None = None
        self.events = ScanEvents()
        self.state = RunState.IDLE
        self.plan: GridPlan | None = None
        self.folder: ScanFolder | None = None
        self.backgrounds: Backgrounds | None = None
        self._abort = threading.Event()
        self._interrupt = threading.Event()  # stop at the next tile boundary
        self.interrupt_reason = ""
        #: set once every acquired tile is on disk and the manifest says how the scan ended
        #: (before a slow analysis finishes): a process may exit from then on
        self.safe_to_exit = threading.Event()
        #: the exception ``start``'s thread ended with (None: it returned)
        self.error: BaseException | None = None
        self._leave_sinks = False  # close only the writer: the analysis is finished later
        self._state_before_pause: RunState = RunState.RUNNING
        self._running = threading.Event()
        self._running.set()
        self._thread: threading.Thread | None = None
        self._inflight: int | None = None  # tile index the stage is already moving to
        self._pending: list[tuple[_TileInProgress, int]] = []  # frames triggered, not yet read
        self._completed: list[Tile] = []  # tiles read out, not yet handed to the sinks
        self.sink_errors: list[str] = []  # non-writer sinks that failed (scan still complete)
        self.summary: ScanSummary | None = None
        #: called with each path before the scan folder writes it (tests inject a full disk)
        self.storage_hook: Callable[[Path], None] | None = None
        self.focus_ctl: FocusController | None = None
        self.drift: DriftMonitor | None = None
        self._z_override: dict[int, float] = {}  # tile index -> z found by a re-focus
        self._held: list[Tile] = []  # soft tiles waiting for a re-focus
        self._released: list[Tile] = []  # re-focus checked, to deliver as they are
        self._background_due: DriftDecision | None = None
        nms = [w.nm for w in scan.wavelengths]
        focus_nm = scan.focus.wavelength_nm if scan.focus.wavelength_nm in nms else nms[0]
        offsets = {w.nm: w.focus_offset_um for w in scan.wavelengths}
        #: focus of each wavelength relative to the tile's focus (set at the focus wavelength)
        self._focus_delta = {nm: off - offsets[focus_nm] for nm, off in offsets.items()}
        self._hold_z: float | None = None  # fixed focus "where it is", when offsets need a base
        self._background_reloaded = False  # resumed with the saved background (not a new one)

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Run the scan in a background thread; follow it through ``events``."""
        if self._thread is not None:
            raise ScanError("this engine has already been started")
        self._thread = threading.Thread(target=self._run_quiet, name="uvscope-scan", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """``start``'s thread is still working."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> ScanSummary | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.summary

    def pause(self) -> None:
        """Hold at the next tile boundary, and hold every retry of a device error."""
        if self.state in (RunState.RUNNING, RunState.PREPARING):
            self._state_before_pause = self.state
            self._running.clear()
            self._set_state(RunState.PAUSED)

    def resume(self) -> None:
        if self.state == RunState.PAUSED:
            self._set_state(self._state_before_pause)
            self._running.set()

    def interrupt(self, reason: str = "interrupted by the user") -> None:
        """Stop at the next tile boundary: frames in flight are read and saved, the manifest
        says "interrupted", and ``--resume`` finishes the scan. Safe from a signal handler."""
        self.interrupt_reason = reason
        self._interrupt.set()
        self._running.set()

    def leave_analysis(self) -> None:
        """Stop at the next tile boundary and do not wait for the analysis sinks to finish
        (``uvscope analyze`` or ``--resume`` does that later)."""
        self._leave_sinks = True
        if not self._interrupt.is_set():
            self.interrupt()

    def abort(self) -> None:
        """Stop as soon as possible: axes are stopped now, written files stay intact."""
        self._abort.set()
        self._running.set()
        for dev in (self.rig.stage, self.rig.focus):
            try:
                dev.stop()
            except DeviceError:
                pass

    # ------------------------------------------------------------------ run
    def check(self) -> None:
        """Lock the folder and make every check a start or resume needs; writes nothing.

        Call it before building sinks that write into the folder (the analysis), so a refused
        scan leaves everything there as it was. ``run`` calls it if nobody did.
        """
        if self._claimed is not None:
            return
        self.rig.connect()  # the plan needs the camera's image geometry as it runs (binning)
        cam = self.rig.camera
        self.plan = plan_tiles(
            self.scan,
            fov_mm(cam.width_px, cam.height_px, self.rig.pixel_size_um),
            self.rig.config.stage,
        )
        if not self.resume_existing:
            self._claimed = ScanFolder.claim_new(self.out_dir)
            return
        folder = ScanFolder.claim(self.out_dir, "resume")
        try:
            self._resume_point = check_resume(
                folder,
                self.plan,
                self.rig.config,
                [w.nm for w in self.scan.wavelengths],
                self._tile_shape(),
                self.accept_rig_change,
            )
        except BaseException:
            folder.release()
            raise
        self._claimed = folder

    def release(self) -> None:
        """Give up the folder's writer lock (``run`` does at its end)."""
        for folder in (self._claimed, self.folder):
            if folder is not None:
                folder.release()

    def _tile_shape(self) -> tuple[int, int]:
        return (int(self.rig.camera.height_px), int(self.rig.camera.width_px))

    def _run_quiet(self) -> None:
        try:
            self.run()
        except BaseException as err:  # reported through events, the summary and ``error``
            self.error = err
        finally:
            self.safe_to_exit.set()

    def run(self) -> ScanSummary:
        """Run the scan in this thread; raises ScanError/StorageError after a clean stop."""
        t0 = time.monotonic()
        self._set_state(RunState.PREPARING)
        acquired_now = 0
        sinks: list[TileSink] = []
        status, message, errors = "failed", "", []
        device_t0 = self.rig.clock.now()
        try:
            if self._claimed is None:
                self.check()
            assert self.plan is not None
            self.rig.connect()
            self.folder, done = self._open_folder(self.plan)
            self.folder.before_write = self.storage_hook
            self.backgrounds = self._retrying("background", lambda: self._backgrounds(self.folder))
            self._prepare_focus(self.folder, self.plan)
            self.drift = DriftMonitor(
                self.scan.background, self.scan.wavelengths[0].nm, self.rig.clock.now()
            )
            if self._background_reloaded:
                self._restore_drift(done.values(), self.drift)  # type: ignore[arg-type]
            writer = TileWriter(self.folder, save_raw=self.scan.save_raw)
            sinks = [writer, *self.user_sinks]
            todo = [t for t in self.plan.tiles if t.index not in done]
            total = len(self.plan.tiles)
            if any(self._focus_delta.values()):
                self._hold_z = self.rig.focus.position_um()
            if self.state == RunState.PAUSED:  # paused while preparing: stay paused
                self._state_before_pause = RunState.RUNNING
            else:
                self._set_state(RunState.RUNNING)
            device_t0 = self.rig.clock.now()
            status = "complete"
            stop_early = False

            def deliver() -> None:
                nonlocal acquired_now, stop_early
                batch = self._released + self._completed
                self._released, self._completed = [], []
                for tile in batch:
                    if self.focus_ctl is not None and self.focus_ctl.assess(tile):
                        self._held.append(tile)  # re-focused at the next safe point
                        continue
                    self._check_drift(tile)
                    for sink in sinks:
                        if sink is writer:
                            sink.put(tile)
                        else:
                            self._put_or_log(sink, tile)
                    acquired_now += 1
                    self.events.tile_acquired.emit(tile)
                    self._progress(len(done) + acquired_now, total, acquired_now, t0, device_t0)
                    stop_early = stop_early or any(
                        getattr(s, "should_stop", lambda: False)() for s in sinks
                    )

            if todo and self.drift is not None:  # a resumed scan may find it due already
                self._background_due = self.drift.schedule_due(self.rig.clock.now())
                if self._background_due is not None:
                    self._service(deliver)
            for i, spec in enumerate(todo):
                self._wait_if_paused()
                if self._abort.is_set():
                    raise ScanAborted("scan aborted by the user")
                if self._interrupt.is_set():  # a tile boundary: save what is in flight
                    self._stop_at_boundary(deliver)
                    status, message = "interrupted", self.interrupt_reason
                    break
                nxt = todo[i + 1] if i + 1 < len(todo) else None
                try:
                    self._acquire_with_recovery(spec, nxt, flush=nxt is None)
                    if self.drift is not None:
                        self.drift.tile_taken()
                        if self._background_due is None and nxt is not None:
                            self._background_due = self.drift.schedule_due(self.rig.clock.now())
                finally:
                    deliver()  # finished tiles reach the writer even when the scan stops
                if self._held or self._background_due is not None:
                    self._service(deliver)
                if stop_early and nxt is not None:
                    self._stop_at_boundary(deliver)
                    status, message = "stopped-early", "stop rule reached"
                    self.folder.log_event("stop-rule", "scan ended early: stop rule reached")
                    break
            self._close_sinks([writer])  # every acquired tile on disk
            sinks = list(self.user_sinks)
            if status == "interrupted":
                self._record_interrupt(len(done) + writer.written, total)
            self._close_sinks(sinks)  # the analysis may take a while
            sinks = []
            if status != "interrupted":
                self.folder.update_manifest(status="writing-mosaic")
                write_stage_mosaics(self.folder)
        except ScanAborted as err:
            status, message = "aborted", str(err)
        except UvscopeError as err:
            status, message = "failed", str(err)
            errors.append(str(err))
        except Exception as err:
            status, message = "failed", self._crash_text(err)
            errors.append(message)
        finally:
            try:
                self._close_sinks(sinks)
            except Exception as err:  # noqa: BLE001
                errors.append(str(err))
                if status == "complete":
                    status, message = "failed", str(err)
        device_s = self.rig.clock.now() - device_t0
        errors.extend(self.sink_errors)
        done_count = len(self.folder.verified_tiles()) if self.folder else 0
        summary = ScanSummary(
            status=status,
            out_dir=str(self.out_dir),
            tiles_total=len(self.plan.tiles) if self.plan else 0,
            tiles_done=done_count,
            tiles_acquired_now=acquired_now,
            wall_s=time.monotonic() - t0,
            device_time_s=device_s,
            message=message,
            errors=errors,
        )
        self.summary = summary
        if self.folder is not None:
            try:
                self.folder.update_manifest(status=status, summary=summary.__dict__)
                if message and status not in ("complete", "interrupted"):
                    self.folder.log_event(status, message)
            except StorageError as err:
                summary.errors.append(str(err))
        self.release()
        self.safe_to_exit.set()
        self._set_state(
            {
                "complete": RunState.FINISHED,
                "stopped-early": RunState.FINISHED,
                "interrupted": RunState.INTERRUPTED,
                "aborted": RunState.ABORTED,
            }.get(status, RunState.FAILED)
        )
        self.events.finished.emit(summary)
        if status == "failed":
            raise ScanError(self._failure_text(message))
        if status == "aborted":
            raise ScanAborted(self._failure_text(message))
        return summary

    def _stop_at_boundary(self, deliver: Callable[[], None]) -> None:
        """End the tile loop between tiles: read out the frames in flight, deliver them and
        stop the stage's move towards the next tile."""
        try:
            self._acquire_with_recovery(None, None, flush=True)
        finally:
            deliver()
        self.rig.stage.stop()

    def resume_hint(self) -> str:
        return f"finish it with `uvscope scan --resume {self.out_dir}`"

    def _record_interrupt(self, done: int, total: int) -> None:
        """Tiles are on disk: say so in manifest and events before the analysis finishes."""
        assert self.folder is not None
        text = (
            f"{self.interrupt_reason}: stopped at a tile boundary with {done} of {total} "
            f"tiles saved; {self.resume_hint()}"
        )
        self.folder.update_manifest(status="interrupted")
        self.folder.log_event("interrupted", text, tiles_done=done, tiles_total=total)
        self.safe_to_exit.set()

    def _crash_text(self, err: Exception) -> str:
        """One line for a bug; the traceback in a crash log, named in the folder's events."""
        path = save_traceback(err)
        where = f"the full traceback is in {path}" if path else "no log folder was writable"
        if self.folder is not None:
            try:
                self.folder.log_event("crash", repr(err), traceback_file=str(path))
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
        return f"unexpected error ({type(err).__name__}: {err}); this is a bug, {where}"

    def _failure_text(self, message: str) -> str:
        hint = (
            (
                f"; files written so far are intact: finish with `uvscope scan --resume "
                f"{self.out_dir}`"
            )
            if self.folder is not None
            else ""
        )
        return f"{message}{hint}"

    # ------------------------------------------------------------------ helpers
    def _set_state(self, state: RunState) -> None:
        self.state = state
        self.events.state_changed.emit(state)

    def _wait_if_paused(self) -> None:
        while not self._running.wait(0.1):
            if self._abort.is_set():
                return

    def _progress(self, done: int, total: int, now_count: int, t0: float, dev0: float) -> None:
        elapsed = time.monotonic() - t0
        rate = now_count / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else None
        self.events.progress.emit(
            ScanProgress(done, total, elapsed, rate, eta, self.rig.clock.now() - dev0)
        )

    def _close_sinks(self, sinks: list[TileSink]) -> None:
        """Close every sink. A lossless writer's failure raises (the scan failed); a failure
        of another sink (analysis at the end of the scan) is logged and kept in
        ``sink_errors``: every tile is saved, and `uvscope analyze DIR` can finish it."""
        first: BaseException | None = None
        for sink in sinks:
            if self._leave_sinks and not isinstance(sink, TileWriter):
                text = (
                    f"{type(sink).__name__} left unfinished at the user's request; run "
                    f"`uvscope analyze {self.out_dir}` (or --resume) to finish it"
                )
                self.sink_errors.append(text)
                self._log("sink-left", text)
                continue
            try:
                sink.close()
            except BaseException as err:  # noqa: BLE001 - close all, then decide
                if isinstance(sink, TileWriter):
                    first = first or err
                else:
                    text = (
                        f"{type(sink).__name__} failed at the end of the scan: {err}; "
                        f"the tiles are saved: run `uvscope analyze {self.out_dir}`"
                    )
                    self.sink_errors.append(text)
                    self._log("sink-error", text)
        if first is not None:
            raise first

    def _manifest_base(self, plan: GridPlan) -> dict[str, object]:
        return {
            "config": self.scan.model_dump(mode="json"),
            "rig": self.rig.config.model_dump(mode="json"),
            "rig_sha256": rig_fingerprint(self.rig.config),
            "plan": {
                "tile_shape_px": list(self._tile_shape()),
                "rows": plan.rows,
                "columns": plan.columns,
                "tiles": len(plan.tiles),
                "step_mm": plan.step_mm,
                "fov_mm": plan.fov_mm,
                "bounds_mm": plan.bounds_mm,
                "pixel_size_um": self.rig.pixel_size_um,
                "wavelengths": [w.nm for w in self.scan.wavelengths],
                "positions": [[t.index, t.row, t.col, t.x_mm, t.y_mm] for t in plan.tiles],
            },
            "journal": "tiles.jsonl",
        }

    def _open_folder(self, plan: GridPlan) -> tuple[ScanFolder, dict[int, object]]:
        """The checked folder, now written: a new manifest, or a resume's repairs."""
        if not self.resume_existing:
            return ScanFolder.create(
                self.out_dir, self._manifest_base(plan), claimed=self._claimed
            ), {}
        folder, point = self._claimed, self._resume_point
        assert folder is not None and point is not None
        torn = folder.repair_logs()
        if torn:
            folder.log_event("torn-record", f"dropped a torn journal/event line ({torn} bytes)")
        leftovers = folder.remove_leftovers()
        if leftovers:
            folder.log_event("leftovers", f"removed {len(leftovers)} unfinished .part file(s)")
        if point.rig_change is not None:
            changes = list(folder.read_manifest().get("rig_changes") or [])
            changes.append(
                {
                    **point.rig_change,
                    "at_tile_count": len(point.done),
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
            )
            folder.update_manifest(rig_changes=changes)
            folder.log_event(
                "rig-change",
                f"resumed on a changed rig: {point.rig_change['reason']}",
                **{k: point.rig_change[k] for k in ("from_sha256", "to_sha256")},
            )
        done, damaged = point.done, point.damaged
        for index, problem in sorted(damaged.items()):
            folder.log_event("damaged-tile", f"tile {index} taken again: {problem}", tile=index)
        folder.update_manifest(status="running")
        folder.log_event(
            "resume",
            f"resumed with {len(done)} of {len(plan.tiles)} tiles done"
            + (f"; {len(damaged)} damaged tile(s) to take again" if damaged else ""),
        )
        return folder, done  # type: ignore[return-value]

    def _exposures(self) -> dict[int, float]:
        return {w.nm: w.exposure_ms for w in self.scan.wavelengths}

    def _background_position(self) -> tuple[float, float]:
        if self.scan.background.position_mm is not None:
            return self.scan.background.position_mm
        world = self.rig.world
        if world is not None and hasattr(world, "blank_position_mm"):
            return tuple(world.blank_position_mm())  # type: ignore[return-value]
        raise ConfigError(
            "background.position_mm is not set: give the stage position of a blank region "
            "of the slide (no cells) for the background images"
        )

    def _backgrounds(self, folder: ScanFolder) -> Backgrounds:
        """Darks and backgrounds: the checked saved ones on resume, else new ones.

        Files first (darks, then backgrounds, each fsynced), the manifest entry last: the
        entry is what marks a background done, so a kill in between leaves none recorded.
        """
        exposures = self._exposures()
        point = self._resume_point if self.resume_existing else None
        if point is not None and point.background is not None:
            self._background_reloaded = True
            return self._load_backgrounds(folder, point.background, exposures)
        entries = list(folder.read_manifest().get("backgrounds") or []) if point else []
        if point is not None and point.background_problem is not None:
            self._log(
                "damaged-background",
                f"saved background unusable "
                f"({point.background_problem}); taking a new one for the rest",
            )
        rig = self.rig
        new_id = f"bg{len(entries)}"
        dark_id = new_id
        old_darks: dict[int, np.ndarray] = {}
        if entries and point is not None and point.darks_whole:  # reuse the checked darks
            dark_id = str(entries[-1].get("dark_id", "bg0"))
            old_darks = {
                nm: read_ome_tiff(dark_path(folder, nm, dark_id))[0].astype(np.float32)
                for nm in exposures
            }
        z = self.scan.focus.z_um if self.scan.focus.z_um is not None else rig.focus.position_um()
        darks = old_darks or acquire_darks(rig, exposures, self.scan.background.dark_frames)
        pos = self._background_position()
        bgs = acquire_backgrounds(
            rig, exposures, self.scan.background.frames, pos, z, darks, bg_id=new_id
        )
        px = rig.pixel_size_um
        if not old_darks:
            for nm, img in bgs.dark.items():
                folder.write_image(
                    dark_path(folder, nm, dark_id),
                    img,
                    ImageMeta(px, None, exposures[nm], name=f"dark for {nm} nm"),
                )
        for nm, img in bgs.background.items():
            meta = ImageMeta(
                px, nm, exposures[nm], pos[0], pos[1], z, f"background {new_id} {nm} nm"
            )
            folder.write_image(folder.background_path(nm, new_id), img, meta)
            self.events.background_acquired.emit(nm, img)
        entries.append(
            {
                "id": bgs.id,
                "dark_id": dark_id,
                "position_mm": pos,
                "z_um": z,
                "frames": self.scan.background.frames,
                "dark_frames": self.scan.background.dark_frames if bgs.dark else 0,
                "stats": {str(k): v for k, v in bgs.stats().items()},
            }
        )
        folder.update_manifest(backgrounds=entries)
        return bgs

    def _load_backgrounds(
        self, folder: ScanFolder, entry: dict[str, object], exposures: dict[int, float]
    ) -> Backgrounds:
        """A checked background entry of the folder (the newest: the scan may have retaken it)."""
        bg_id = str(entry.get("id", "bg0"))
        dark_id = str(entry.get("dark_id", "bg0"))
        pos = entry.get("position_mm")
        z = entry.get("z_um")
        bgs = Backgrounds(
            id=bg_id, position_mm=_xy(pos), z_um=float(z) if isinstance(z, (int, float)) else None
        )
        first = (folder.read_manifest().get("backgrounds") or [{}])[0]
        for nm in exposures:
            p = folder.background_path(nm, bg_id)
            bgs.background[nm] = read_ome_tiff(p)[0].astype(np.float32)
            if first.get("dark_frames", 0):
                d = dark_path(folder, nm, dark_id)
                bgs.dark[nm] = read_ome_tiff(d)[0].astype(np.float32)
        return bgs

    def _order(self) -> list[int]:
        """Wavelength order for the next tile: start at the filter the wheel is at, if it is
        either end of the list, so the order alternates tile to tile and saves wheel moves."""
        nms = [w.nm for w in self.scan.wavelengths]
        return nms[::-1] if len(nms) > 1 and self.rig.filter_wheel.wavelength_nm == nms[-1] else nms

    def _z_for(self, spec: TileSpec) -> float | None:
        """The tile's focus at the focus wavelength; None: leave the focus where it is."""
        if spec.index in self._z_override:
            return self._z_override[spec.index]
        if self.focus_source is not None:
            return self.focus_source.z_at(spec.x_mm, spec.y_mm)
        return spec.z_um if spec.z_um is not None else self._hold_z

    def _start_move(self, spec: TileSpec) -> None:
        """Stage and focus towards ``spec``; focus for the wavelength the tile starts with."""
        self.rig.stage.start_move_to_mm(spec.x_mm, spec.y_mm)
        z = self._z_for(spec)
        if z is not None:
            self.rig.focus.start_move_to_um(z + self._focus_delta[self._order()[0]])
        self._inflight = spec.index

    def _focus_for(self, base: float | None, nm: int) -> None:
        """Start the focus move to ``nm``'s focal plane if the axis is not there already."""
        if base is None:
            return
        z = base + self._focus_delta[nm]
        if abs(self.rig.focus.position_um() - z) > 1e-6:
            self.rig.focus.start_move_to_um(z)

    def _acquire_with_recovery(
        self, spec: TileSpec | None, nxt: TileSpec | None, flush: bool
    ) -> None:
        """Acquire ``spec`` (None: only read out what is pending) into ``self._completed``.

        On a device error, every tile with a frame still in flight is acquired again.
        """
        queue: list[TileSpec] = [spec] if spec is not None else []
        failed: set[int] = set()  # tiles hit by an error, to log once they are taken
        while True:
            try:
                while queue:
                    cur = queue[0]
                    self._acquire(cur, queue[1] if len(queue) > 1 else nxt)
                    queue.pop(0)
                if flush:
                    self._read_pending(keep=0)
                self._log_recovered(failed)
                return
            except DeviceError as err:
                lost = [ctx.spec for ctx, _ in self._pending]
                self._pending.clear()
                self._inflight = None
                queue = list(dict.fromkeys(lost + queue))  # in order, each once
                where = queue[0].index if queue else -1
                failed.add(where)
                self._device_error(err, f"tile {where}", tile=where)

    def _log_recovered(self, failed: set[int]) -> None:
        assert self.folder is not None
        for index in sorted(failed):
            n = self.retry.spent_by[f"tile {index}"]
            self.folder.log_event(
                "recovered", f"tile {index} taken after {n} device error(s)", tile=index
            )

    def _device_error(self, err: DeviceError, where: str, **extra: object) -> None:
        """Charge the retry budget and return when a retry may go ahead (devices reopened):
        at once within budget, after the operator's Resume in the GUI once it is spent.
        Raises ScanError (headless, budget spent) or ScanAborted. Pause halts retries."""
        allowed = self.retry.charge(where)
        assert self.folder is not None
        self.folder.log_event(
            "device-error",
            f"{where}: {err}" if "tile" not in extra else str(err),
            attempt=self.retry.spent_by[where],
            scan_errors=self.retry.spent,
            **extra,
        )
        self.events.log.emit(f"{where}: {err}")
        if not allowed and self.on_device_error != "pause":
            raise ScanError(
                f"device error at {where}: {err}; retry budget spent ({self.retry.describe(where)})"
            ) from err
        if not allowed:
            self.events.device_error.emit(
                f"{err}. Retries used up ({self.retry.describe(where)}). Check the device, "
                f"then Resume to retry {where} or Abort to stop (files so far are kept)."
            )
            self._state_before_pause = self.state
            self._running.clear()
            self._set_state(RunState.PAUSED)
            self.retry.grant(where)
        self._wait_if_paused()  # a Pause (the operator's or the budget's) halts retries
        if self._abort.is_set():
            raise ScanAborted("scan aborted by the user") from err
        self.rig.reopen()

    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        """Run a preparation step, retried under the same budget on a device error."""
        while True:
            try:
                return fn()
            except DeviceError as err:
                self._device_error(err, what)

    # ------------------------------------------------------------------ sinks, focus, drift
    def _put_or_log(self, sink: TileSink, tile: Tile) -> None:
        """A failing non-writer sink (analysis, display) costs its result, not the scan."""
        try:
            sink.put(tile)
        except Exception as err:  # noqa: BLE001 - recorded in events.jsonl, scan goes on
            self._log(
                "sink-error",
                f"{type(sink).__name__} failed on tile {tile.index}: "
                f"{err!r}; the tile is saved, the scan goes on",
                tile=tile.index,
            )

    def _log(self, kind: str, message: str, **extra: object) -> None:
        if self.folder is not None:
            self.folder.log_event(kind, message, **extra)
        self.events.log.emit(message)

    def _prepare_focus(self, folder: ScanFolder, plan: GridPlan) -> None:
        """Focus source for the tiles (autofocus / focus map), after the backgrounds."""
        ctl = FocusController(
            self.rig, self.scan, self._normalise, should_stop=self._abort.is_set, log=self._log
        )
        saved = folder.read_manifest().get("focus") if self.resume_existing else None
        if self.focus_source is None:
            if self._retrying("focus map", lambda: ctl.prepare(plan, saved)) is not None:
                self.focus_source = ctl
        self.focus_ctl = ctl
        folder.update_manifest(focus=ctl.manifest_entry())

    def _normalise(self, nm: int, raw: np.ndarray) -> np.ndarray:
        assert self.backgrounds is not None
        return self.backgrounds.normalise(nm, raw)

    def _service(self, deliver: Callable[[], None]) -> None:
        """At a safe point (no frame in flight) re-focus held tiles and take a due background.

        Both move the stage off the tile path and use the camera, so pending frames are
        read out first and the next tile's move starts afresh.
        """
        try:
            self._acquire_with_recovery(None, None, flush=True)
        finally:
            deliver()
        ctl = self.focus_ctl
        while self._held and ctl is not None:
            tile = self._held.pop(0)
            z = self._retrying(f"re-focus at tile {tile.index}", lambda t=tile: ctl.refocus(t))
            self._inflight = None
            if z is None:
                self._released.append(tile)  # delivered with its flags
            else:
                self._z_override[tile.index] = z
                self._acquire_with_recovery(tile.spec, None, flush=True)
            deliver()
            assert self.folder is not None
            self.folder.update_manifest(focus=ctl.manifest_entry())
        if self._background_due is not None:
            due, self._background_due = self._background_due, None
            self._retrying("background again", lambda: self._retake_background(due))
        self._inflight = None

    def _check_drift(self, tile: Tile) -> None:
        """Record the tile's clear-field level; note when a new background is due."""
        if self.drift is None:
            return
        now = self.rig.clock.now()
        level, due = self.drift.update(tile.normalised, now)
        tile.extra["clear_level"] = level
        tile.extra["background_age_s"] = round(self.drift.age_s(tile.acquired_at_s), 3)
        if due is not None and self._background_due is None:
            self._background_due = due

    def _restore_drift(self, done: Iterable[TileRecord], drift: DriftMonitor) -> None:
        """Tiles already taken with the current background count towards its schedule."""
        assert self.backgrounds is not None
        taken = sorted(
            (float(r.extra.get("background_age_s", 0.0)), float(r.extra["clear_level"]))
            for r in done
            if r.background_id == self.backgrounds.id and r.extra and "clear_level" in r.extra
        )  # in the order they were taken: the age grows tile by tile
        drift.restore([lv for _, lv in taken], taken[-1][0] if taken else 0.0, self.rig.clock.now())

    def _retake_background(self, due: DriftDecision) -> None:
        """A new background (same darks, position and z); later tiles carry its id."""
        folder, old, rig = self.folder, self.backgrounds, self.rig
        assert folder is not None and old is not None and self.drift is not None
        entries = list(folder.read_manifest().get("backgrounds", []))
        new_id = f"bg{len(entries)}"
        pos = old.position_mm or self._background_position()
        z = old.z_um if old.z_um is not None else rig.focus.position_um()
        exposures = self._exposures()
        self._inflight = None  # the stage leaves the tile path
        bgs = acquire_backgrounds(
            rig, exposures, self.scan.background.frames, pos, z, old.dark, bg_id=new_id
        )
        px = rig.pixel_size_um
        for nm, img in bgs.background.items():
            folder.write_image(
                folder.background_path(nm, new_id),
                img,
                ImageMeta(px, nm, exposures[nm], pos[0], pos[1], z, f"background {new_id} {nm} nm"),
            )
            self.events.background_acquired.emit(nm, img)
        entries.append(
            {
                "id": new_id,
                "dark_id": str(entries[-1].get("dark_id", "bg0")) if entries else "bg0",
                "position_mm": pos,
                "z_um": z,
                "frames": self.scan.background.frames,
                "reason": due.reason,
                "message": due.message,
                "drift_percent": due.drift_percent,
                "stats": {str(k): v for k, v in bgs.stats().items()},
            }
        )
        folder.update_manifest(backgrounds=entries)
        self._log(
            "background", f"background {new_id} taken: {due.message}", id=new_id, reason=due.reason
        )
        self.backgrounds = bgs
        self.drift.reset(rig.clock.now())

    def _acquire(self, spec: TileSpec, nxt: TileSpec | None) -> None:
        """Move to ``spec`` and trigger each wavelength; frames are read one trigger later
        when the camera can hold a frame while exposing the next (interline CCD), so
        readout overlaps the next exposure, wheel move and stage move."""
        rig, exposures = self.rig, self._exposures()
        order = self._order()
        wheel = rig.filter_wheel
        if self._inflight != spec.index:
            self._start_move(spec)
        base = self._z_for(spec)
        wheel.start_move_to_slot(wheel.slot_for(order[0]))
        rig.stage.wait()
        rig.focus.wait()
        if self._abort.is_set():  # the move was stopped short: no tile at the wrong place
            raise ScanAborted("scan aborted by the user")
        x, y = rig.stage.position_mm()
        ctx: _TileInProgress | None = None
        for k, nm in enumerate(order):
            self._focus_for(base, nm)  # chromatic focal shift: a small move beside the wheel's
            wheel.wait()
            rig.focus.wait()
            if ctx is None:  # the tile's z is the focus wavelength's, as measured
                z = rig.focus.position_um() - (self._focus_delta[nm] if base is not None else 0)
                ctx = _TileInProgress(spec, x, y, z, rig.clock.now(), len(order))
            if rig.camera.exposure_ms != exposures[nm]:
                rig.camera.set_exposure_ms(exposures[nm])
            rig.camera.trigger()
            self._pending.append((ctx, nm))
            if k + 1 < len(order):
                wheel.start_move_to_slot(wheel.slot_for(order[k + 1]))
                self._focus_for(base, order[k + 1])
            else:
                self._inflight = None
                if nxt is not None:
                    self._start_move(nxt)  # overlaps the readout of the last frame
            self._read_pending(keep=rig.camera.max_pending_frames - 1)

    def _read_pending(self, keep: int) -> None:
        """Read frames in trigger order until at most ``keep`` remain in flight."""
        while len(self._pending) > keep:
            ctx, nm = self._pending[0]
            image = self.rig.camera.read().image
            self._pending.pop(0)
            ctx.raws[nm] = image
            if len(ctx.raws) == ctx.n_wavelengths:
                self._completed.append(self._finish(ctx))

    def _finish(self, ctx: _TileInProgress) -> Tile:
        assert self.backgrounds is not None
        exposures = self._exposures()
        norm = {nm: self.backgrounds.normalise(nm, raw) for nm, raw in ctx.raws.items()}
        return Tile(
            spec=ctx.spec,
            x_mm=ctx.x_mm,
            y_mm=ctx.y_mm,
            z_um=ctx.z_um,
            pixel_size_um=self.rig.pixel_size_um,
            raw=dict(ctx.raws),
            normalised=norm,
            exposure_ms={nm: exposures[nm] for nm in ctx.raws},
            acquired_at_s=ctx.t_acq,
            background_id=self.backgrounds.id,
        )


def _xy(value: object) -> tuple[float, float] | None:
    """A saved (x, y) position, or None."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (float(value[0]), float(value[1]))
    return None


@dataclass
class _TileInProgress:
    spec: TileSpec
    x_mm: float
    y_mm: float
    z_um: float
    t_acq: float
    n_wavelengths: int
    raws: dict[int, np.ndarray] = field(default_factory=dict)


def run_scan(
    rig: Rig,
    scan: ScanConfig,
    out_dir: str | Path,
    sinks: Sequence[TileSink] = (),
    resume: bool = False,
    on_progress: Callable[[ScanProgress], None] | None = None,
) -> ScanSummary:
    """Convenience: run a scan to completion in this thread."""
    engine = ScanEngine(rig, scan, out_dir, sinks, resume=resume)
    if on_progress is not None:
        engine.events.progress.connect(on_progress)
    return engine.run()
