"""The scan loop: a whole scan is one queue of frozen steps, dispatched in one place.

Read this first. In pseudo-code::

    queue = [darks, background, focus, begin tiles]      # or a resume's reloaded background
    loop:
        if queue is empty:                               # the tile steps ran dry
            stop rule met or plan has no more tiles: end "complete"
            queue += a tile step per tile the plan gives (a growing plan gives more, each
                     new ring after a focus step that extends the focus map over it)
        step = queue.pop_first()
        if step is a tile step:                          # a tile boundary
            stop rule met: read frames in flight, end "stopped-early"
            wait while paused; raise if aborted; interrupted: read frames, end "interrupted"
        match step: run it on the engine (the hardware side, ``steps.TileEngine``)
            a device error: the retry budget pays, and the step goes first again with the
            tiles whose frames were lost to take before its own (no tile boundary)
        deliver the tiles the step FINISHED (pipelined: frames read now may complete earlier
            tiles): focus in doubt -> held; else drift check -> sinks (writer first) -> stop rule
        queue first what they call for: a flush, then a re-focus per held tile, then a background

The feedback is consulted, never owned, here: the focus policy (``FocusPolicy``), the
background policy (``BackgroundPolicy``: drift and schedule), the stop rule (``StopRule``) and
the retry budget (``DeviceErrorPolicy``). Names follow pymmcore-plus: this loop is
``MDARunner._run``, ``steps.TileEngine`` is ``PMDAEngine``, the steps are useq's frozen events.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from uvscope.acquisition.control import RunControl
from uvscope.acquisition.events import ScanEvents, ScanProgress
from uvscope.acquisition.recovery import DeviceErrorPolicy
from uvscope.acquisition.steps import (
    BackgroundPolicy,
    BackgroundStep,
    BeginTilesStep,
    DarkStep,
    FlushStep,
    FocusPolicy,
    FocusStep,
    PlanSource,
    RefocusStep,
    ReloadBackgroundStep,
    ScanRecord,
    ScanStep,
    TileEngine,
    TileStep,
    tile_steps,
)
from uvscope.acquisition.tiles import StopRule, Tile, TileSpec
from uvscope.clock import Clock
from uvscope.errors import DeviceError

__all__ = ["LoopParts", "ProgressBase", "ScanLoop", "ScanRecord", "TileSinks", "tile_steps"]


class TileSinks(StopRule, Protocol):
    """Where finished tiles go (``sinks.SinkSet``: the writer first); also the stop rule."""

    def put(self, tile: Tile) -> None: ...


@dataclass(frozen=True)
class ProgressBase:
    """What progress is counted from: tiles done before this run, the plan's size, and the
    wall-clock and device-clock times the tiles started at."""

    done_before: int
    total: int
    t0_s: float
    device_t0_s: float


@dataclass(frozen=True)
class LoopParts:
    """What the loop drives and consults: the engine (hardware side), the policies, the
    operator's requests, and where it reports (events, the folder's log and manifest)."""

    engine: TileEngine
    focus: FocusPolicy
    backgrounds: BackgroundPolicy
    recovery: DeviceErrorPolicy
    control: RunControl
    events: ScanEvents
    folder: ScanRecord
    clock: Clock


class ScanLoop:
    """Runs one scan's queue of steps (``run``): the preparation, then the tiles.

    ``open_sinks`` is called at ``BeginTilesStep`` (the writer and the other sinks, which are
    also the stop rule); ``progress`` counts from the tiles done before (its device time is
    set again when the tiles begin).
    """

    def __init__(
        self,
        parts: LoopParts,
        plan: PlanSource,
        open_sinks: Callable[[], TileSinks],
        progress: ProgressBase,
    ) -> None:
        self.parts = parts
        self.engine, self.focus, self.keeper = parts.engine, parts.focus, parts.backgrounds
        self.recovery, self.control, self.events = parts.recovery, parts.control, parts.events
        self.folder = parts.folder
        self.plan = plan
        self._open_sinks = open_sinks
        self.sinks: TileSinks | None = None
        self.progress = progress
        self.tiles_began = False  # the preparation is over (``BeginTilesStep`` ran)
        self.acquired_now = 0  # tiles delivered by this run
        self.stop_rule_met = False
        self.held: list[Tile] = []  # finished tiles whose focus is in doubt, to re-focus
        self._planned = 0  # tiles the plan gave this run

    def run(self, first: Sequence[ScanStep]) -> tuple[str, str]:
        """Run ``first`` (the preparation), then the plan's tiles; the status and message
        the scan ends with."""
        queue: deque[ScanStep] = deque(first)
        while True:
            if not queue and not self._more_tiles(queue):
                return "complete", ""
            step = queue.popleft()
            if isinstance(step, TileStep) and not step.failed:  # a tile boundary
                ended = self._at_tile_boundary()
                if ended is not None:
                    return ended
            queue.extendleft(reversed(self._run_step(step)))

    # ------------------------------------------------------------------ the one dispatch
    def _run_step(self, step: ScanStep) -> list[ScanStep]:
        """Run ``step``; the steps to run next, before the rest of the queue (the step
        itself again after a device error, or the work the finished tiles call for)."""
        engine, recovery = self.engine, self.recovery
        match step:
            case DarkStep():
                recovery.retrying("background", lambda: engine.take_darks(step))
            case BackgroundStep(due=due):
                what = "background" if due is None else "background again"
                recovery.retrying(what, lambda: engine.take_background(step))
            case ReloadBackgroundStep():
                engine.reload_background(step)
            case FocusStep():
                recovery.retrying("focus map", lambda: engine.prepare_focus(step))
                self.folder.update_manifest(focus=self.focus.manifest_entry())
            case BeginTilesStep():
                self._begin_tiles()
            case TileStep():
                return self._tile(step)
            case FlushStep():
                return self._flush(step)
            case RefocusStep():
                return self._refocus(step)
        return []

    # ------------------------------------------------------------------ the arms
    def _begin_tiles(self) -> None:
        """The preparation is over: the tile engine and the sinks open, the run RUNNING."""
        self.engine.begin_tiles()
        self.sinks = self._open_sinks()
        self.control.enter_running()
        self.tiles_began = True
        self.progress = ProgressBase(
            self.progress.done_before,
            self.progress.total,
            self.progress.t0_s,
            self.parts.clock.now(),
        )

    def _tile(self, step: TileStep) -> list[ScanStep]:
        """Trigger the tile's frames (after any lost ones); a flush if the finished tiles
        call for work off the tile path."""
        lost = self._take(step.retake, step.spec, step.next_spec, step.failed)
        if lost is not None:
            return [replace(step, retake=lost[0], failed=lost[1])]
        self.keeper.tile_taken(more_tiles=step.next_spec is not None)
        self.deliver()
        return [FlushStep()] if self.held or self.keeper.due is not None else []

    def _flush(self, step: FlushStep) -> list[ScanStep]:
        """Read out every frame in flight; then the work off the tile path."""
        lost = self._take(step.retake, None, None, step.failed)
        if lost is not None:
            return [replace(step, retake=lost[0], failed=lost[1])]
        self.deliver()
        return self._off_path_work()

    def _refocus(self, step: RefocusStep) -> list[ScanStep]:
        """Probe (and sweep) a doubtful tile; take it again where its focus is, or deliver it
        as it is with its focus verdict. Then the next work off the tile path."""
        tile, z_um = step.tile, step.z_um
        if z_um is None:  # not probed yet (a retry after a device error skips the probe)
            where = f"re-focus at tile {tile.index}"
            z_um = self.recovery.retrying(where, lambda: self.engine.refocus(tile))
            self.engine.forget_move()
            if z_um is None:
                self.deliver(also=[tile])
            else:
                self.engine.set_focus_um(tile.index, z_um)
        if z_um is not None:
            lost = self._take(step.retake, tile.spec, None, step.failed)
            if lost is not None:
                return [replace(step, z_um=z_um, retake=lost[0], failed=lost[1])]
            self.deliver()
        self.folder.update_manifest(focus=self.focus.manifest_entry())
        return self._off_path_work()

    def _take(
        self,
        retake: tuple[TileSpec, ...],
        spec: TileSpec | None,
        next_spec: TileSpec | None,
        failed: frozenset[int],
    ) -> tuple[tuple[TileSpec, ...], frozenset[int]] | None:
        """Trigger the frames of ``retake`` then ``spec`` in order (each moving on to the
        next), then, without a next tile, read out every frame. None when done; after a
        device error within the budget, the tiles to take again before ``spec`` and the
        tiles hit so far."""
        specs = (*retake, spec) if spec is not None else retake
        engine, taken = self.engine, 0
        try:
            for i, this in enumerate(specs):
                step = TileStep(this, specs[i + 1] if i + 1 < len(specs) else next_spec)
                engine.setup_step(step)
                engine.exec_step(step)
                engine.teardown_step(step)
                taken += 1
            if next_spec is None:
                engine.flush()
        except DeviceError as err:
            todo = list(dict.fromkeys(engine.drop_in_flight() + list(specs[taken:])))
            where = todo[0].index if todo else -1  # in order, each once: the oldest pays
            try:
                self.recovery.handle(err, f"tile {where}", tile=where)
            except BaseException:
                self.deliver()  # finished tiles reach the writer even when the scan stops
                raise
            return tuple(s for s in todo if s != spec), failed | {where}
        except BaseException:
            self.deliver()
            raise
        self.recovery.log_recovered(set(failed))
        return None

    def _off_path_work(self) -> list[ScanStep]:
        """With nothing in flight: re-focus the held tiles one by one, then a due background."""
        if self.held:
            return [RefocusStep(self.held.pop(0))]
        due = self.keeper.take_due()
        return [BackgroundStep(due)] if due is not None else []

    def _more_tiles(self, queue: deque[ScanStep]) -> bool:
        """The tile steps ran dry: queue the plan's next tiles (none once the stop rule has
        fired); False when there are none."""
        if self.stop_rule_met:
            return False
        todo = self.plan.next_tiles()
        if not todo:
            return False
        if self._planned:  # the plan grew: progress counts the new tiles too
            base = self.progress
            self.progress = ProgressBase(
                base.done_before, base.total + len(todo), base.t0_s, base.device_t0_s
            )
        if self._planned:  # a grown ring: the focus source covers it before its tiles
            queue.append(FocusStep(tuple(todo)))
        self._planned += len(todo)
        self.keeper.check_schedule()  # a resumed scan may find a background due already
        if self.keeper.due is not None:
            queue.append(FlushStep())
        queue.extend(tile_steps(todo))
        return True

    # ------------------------------------------------------------------ boundaries, delivery
    def _at_tile_boundary(self) -> tuple[str, str] | None:
        """Before a tile: the status to end with now, or None to take it."""
        if self.stop_rule_met:
            self.stop_at_boundary()
            self.folder.log_event("stop-rule", "scan ended early: stop rule reached")
            return "stopped-early", "stop rule reached"
        self.control.wait_if_paused()
        self.control.raise_if_aborted()
        if self.control.interrupted:  # a tile boundary: save what is in flight
            self.stop_at_boundary()
            return "interrupted", self.control.interrupt_reason
        return None

    def stop_at_boundary(self) -> None:
        """End between tiles: frames in flight are read and delivered, the stage's move
        towards the next tile is stopped."""
        step = FlushStep()
        while True:  # a device error while reading out: the lost tiles again, then stop
            lost = self._take(step.retake, None, None, step.failed)
            if lost is None:
                break
            step = replace(step, retake=lost[0], failed=lost[1])
        self.deliver()
        self.engine.stop_stage()

    def deliver(self, also: Sequence[Tile] = ()) -> None:
        """Finished tiles (``also`` first: a re-focused tile kept as it is) to the sinks,
        unless their focus is in doubt (held for a re-focus); each counts towards the drift
        monitor and the progress."""
        if self.sinks is None:
            return
        for tile in [*also, *self.engine.take_finished()]:
            if self.focus.assess(tile):
                self.held.append(tile)  # re-focused at the next safe point
                continue
            self.keeper.check_drift(tile)
            self.sinks.put(tile)
            self.acquired_now += 1
            self.events.tile_acquired.emit(tile)
            self._emit_progress()
            self.stop_rule_met = self.stop_rule_met or self.sinks.should_stop()

    def _emit_progress(self) -> None:
        base = self.progress
        elapsed_s = time.monotonic() - base.t0_s
        rate = self.acquired_now / elapsed_s if elapsed_s > 0 else 0.0
        done = base.done_before + self.acquired_now
        eta_s = (base.total - done) / rate if rate > 0 else None
        self.events.progress.emit(
            ScanProgress(
                done,
                base.total,
                elapsed_s,
                rate,
                eta_s,
                self.parts.clock.now() - base.device_t0_s,
            )
        )
