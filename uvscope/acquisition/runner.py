"""The runner: the tile steps of a scan in order, with the work they call for queued as steps.

Before each tile (a tile boundary) it honours the operator and the sinks: a stop rule met, a
pause, an abort, an interrupt. After each step it delivers the finished tiles to the sinks
(writer first) and queues what they call for: a tile whose focus is in doubt is held for a
``RefocusStep``, a drifted illumination or a due schedule queues a ``BackgroundStep``, each
after a ``FlushStep`` so no frame is in flight while the stage leaves the tile path. Device
errors are charged to the retry budget, and the tiles whose frames they lost are taken again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from uvscope.acquisition.acquirer import TileAcquirer
from uvscope.acquisition.background_steps import BackgroundKeeper
from uvscope.acquisition.control import RunControl
from uvscope.acquisition.events import ScanEvents, ScanProgress
from uvscope.acquisition.focus_control import FocusController
from uvscope.acquisition.recovery import DeviceErrorPolicy
from uvscope.acquisition.sinks import SinkSet
from uvscope.acquisition.steps import BackgroundStep, FlushStep, RefocusStep, ScanStep, TileStep
from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.drivers.rig import Rig
from uvscope.errors import DeviceError, ScanError
from uvscope.io.scanfolder import ScanFolder


@dataclass(frozen=True)
class ProgressBase:
    """What progress is counted from: tiles done before this run, the plan's size, and the
    wall-clock and device-clock times the tiles started at."""

    done_before: int
    total: int
    t0_s: float
    device_t0_s: float


@dataclass(frozen=True)
class RunParts:
    """What the runner drives: the devices (through the acquirer), the backgrounds and the
    focus check, the sinks, and the retry policy."""

    acquirer: TileAcquirer
    keeper: BackgroundKeeper
    focus: FocusController
    sinks: SinkSet
    recovery: DeviceErrorPolicy


def tile_steps(todo: Sequence[TileSpec]) -> list[TileStep]:
    """One step per tile; each knows the next, so the stage moves on during readout."""
    return [
        TileStep(spec, todo[i + 1] if i + 1 < len(todo) else None) for i, spec in enumerate(todo)
    ]


class StepRunner:
    """Runs the tile steps of one scan (``run``) once the preparation is done."""

    def __init__(
        self,
        rig: Rig,
        control: RunControl,
        events: ScanEvents,
        folder: ScanFolder,
        parts: RunParts,
        progress: ProgressBase,
    ) -> None:
        self.rig, self.control, self.events, self.folder = rig, control, events, folder
        self.acquirer, self.keeper, self.focus = parts.acquirer, parts.keeper, parts.focus
        self.sinks, self.recovery = parts.sinks, parts.recovery
        self.progress = progress
        self.acquired_now = 0  # tiles delivered by this run
        self.stop_rule_met = False
        self._held: list[Tile] = []  # delivered tiles whose focus is in doubt
        self._released: list[Tile] = []  # re-focus checked: to deliver as they are

    def run(self, todo: Sequence[TileSpec]) -> tuple[str, str]:
        """Take the tiles ``todo``; the status and message they end with."""
        queue: deque[ScanStep] = deque(tile_steps(todo))
        if todo:  # a resumed scan may find a background due already
            self.keeper.check_schedule()
            if self.keeper.due is not None:
                queue.appendleft(FlushStep())
        while queue:
            step = queue.popleft()
            if isinstance(step, TileStep):
                ended = self._at_tile_boundary()
                if ended is not None:
                    return ended
            self.execute(step)
            follow = self._step_after(step)
            if follow is not None:
                queue.appendleft(follow)
        return "complete", ""

    def execute(self, step: ScanStep) -> None:
        if isinstance(step, TileStep):
            try:
                self._acquire(step)
                self.keeper.tile_taken(more_tiles=step.next_spec is not None)
            finally:
                self.deliver()  # finished tiles reach the writer even when the scan stops
        elif isinstance(step, FlushStep):
            self.flush()
        elif isinstance(step, RefocusStep):
            self._refocus(step.tile)
        elif isinstance(step, BackgroundStep):
            self.acquirer.forget_move()  # the stage leaves the tile path
            self.recovery.retrying("background again", lambda: self.keeper.take_background(step))
        else:
            raise ScanError(f"a {type(step).__name__} cannot run among the tiles")

    def flush(self) -> None:
        """Read out and deliver every frame in flight."""
        try:
            self._acquire(FlushStep())
        finally:
            self.deliver()

    def stop_at_boundary(self) -> None:
        """End between tiles: frames in flight are read and delivered, the stage's move
        towards the next tile is stopped."""
        self.flush()
        self.rig.stage.stop()

    def deliver(self) -> None:
        """Finished tiles to the sinks, unless their focus is in doubt (held for a
        re-focus); each counts towards the drift monitor and the progress."""
        batch = self._released + self.acquirer.take_finished()
        self._released = []
        for tile in batch:
            if self.focus.assess(tile):
                self._held.append(tile)  # re-focused at the next safe point
                continue
            self.keeper.check_drift(tile)
            self.sinks.put(tile)
            self.acquired_now += 1
            self.events.tile_acquired.emit(tile)
            self._emit_progress()
            self.stop_rule_met = self.stop_rule_met or self.sinks.should_stop()

    # ------------------------------------------------------------------ steps
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

    def _step_after(self, step: ScanStep) -> ScanStep | None:
        """The work ``step`` calls for: a flush first, then re-focus of held tiles one by
        one, then a due background."""
        if isinstance(step, TileStep):
            return FlushStep() if self._held or self.keeper.due is not None else None
        if not isinstance(step, (FlushStep, RefocusStep)):
            return None
        if self._held:
            return RefocusStep(self._held.pop(0))
        due = self.keeper.take_due()
        return BackgroundStep(due) if due is not None else None

    def _refocus(self, tile: Tile) -> None:
        """Probe (and sweep) a doubtful tile; take it again where its focus is, or deliver
        it as it is with its focus flags."""
        z_um = self.recovery.retrying(
            f"re-focus at tile {tile.index}", lambda: self.focus.refocus(tile)
        )
        self.acquirer.forget_move()
        try:
            if z_um is None:
                self._released.append(tile)  # delivered with its flags
            else:
                self.acquirer.set_focus_um(tile.index, z_um)
                self._acquire(TileStep(tile.spec))
        finally:
            self.deliver()
        self.folder.update_manifest(focus=self.focus.manifest_entry())

    def _acquire(self, step: TileStep | FlushStep) -> None:
        """Run a tile step (or a flush) to the end; after a device error every tile whose
        frames were in flight is taken again, within the retry budget."""
        queue = [step.spec] if isinstance(step, TileStep) else []
        next_spec = step.next_spec if isinstance(step, TileStep) else None
        failed: set[int] = set()  # tiles hit by an error, to log once they are taken
        while True:
            try:
                self._take(queue, next_spec)
                self.recovery.log_recovered(failed)
                return
            except DeviceError as err:
                lost = self.acquirer.drop_in_flight()
                queue = list(dict.fromkeys(lost + queue))  # in order, each once
                where = queue[0].index if queue else -1
                failed.add(where)
                self.recovery.handle(err, f"tile {where}", tile=where)

    def _take(self, queue: list[TileSpec], next_spec: TileSpec | None) -> None:
        """Take the tiles of ``queue`` in order (popped once taken), then, without a next
        tile, read out every frame."""
        acq = self.acquirer
        while queue:
            step = TileStep(queue[0], queue[1] if len(queue) > 1 else next_spec)
            acq.setup_step(step)
            acq.exec_step(step)
            acq.teardown_step(step)
            queue.pop(0)
        if next_spec is None:
            acq.flush()

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
                self.rig.clock.now() - base.device_t0_s,
            )
        )
