"""The scan loop's contract, driven with a fake hardware engine (no simulator, no files).

The fake engine pipelines like an interline camera: a tile's frames are read out while the next
tile is exposed, so a tile step finishes the tile BEFORE it, and the last of a run of tiles is
read out by its teardown. Every call is written to ``engine.calls``, so each test reads the
order of what the loop asked the hardware for.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from uvscope.acquisition.control import RunControl
from uvscope.acquisition.drift import DriftDecision
from uvscope.acquisition.events import RunState, ScanEvents
from uvscope.acquisition.recovery import DeviceErrorPolicy
from uvscope.acquisition.retry import RetryBudget
from uvscope.acquisition.runner import LoopParts, ProgressBase, ScanLoop
from uvscope.acquisition.steps import (
    BackgroundStep,
    BeginTilesStep,
    DarkStep,
    FixedPlan,
    FocusStep,
)
from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.clock import VirtualClock
from uvscope.errors import DeviceError, ScanAborted, ScanError

PREP = [DarkStep("bg0"), BackgroundStep(), FocusStep(), BeginTilesStep()]


def specs(n: int, start: int = 0) -> list[TileSpec]:
    return [TileSpec(i, 0, i, float(i), 0.0) for i in range(start, start + n)]


class FakeEngine:
    """The hardware side: records calls, pipelines frames one tile deep, fails on request."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.in_flight: list[TileSpec] = []
        self.finished: list[Tile] = []
        self.z_um: dict[int, float] = {}
        self.fail_exec: dict[int, int] = {}  # tile index -> device errors still to raise
        self.refocus_to: dict[int, float | None] = {}
        self.on_exec = lambda index: None

    def take_darks(self, step):
        self.calls.append("darks")

    def take_background(self, step):
        self.calls.append("background" if step.due is None else f"background {step.due.reason}")

    def reload_background(self, step):
        self.calls.append("reload")

    def prepare_focus(self, step):
        self.calls.append(f"focus {len(step.tiles)}" if step.tiles else "focus")

    def begin_tiles(self):
        self.calls.append("begin")

    def setup_step(self, step):
        self.calls.append(f"setup {step.spec.index}")

    def exec_step(self, step):
        index = step.spec.index
        if self.fail_exec.get(index, 0) > 0:
            self.fail_exec[index] -= 1
            self.calls.append(f"error {index}")
            raise DeviceError(f"camera timeout at tile {index}")
        self.calls.append(f"exec {index}")
        self.on_exec(index)
        self.in_flight.append(step.spec)
        while len(self.in_flight) > 1:  # the previous tile's last frame is read now
            self._finish(self.in_flight.pop(0))

    def teardown_step(self, step):
        if step.next_spec is None:
            self.flush()

    def flush(self):
        self.calls.append("flush")
        while self.in_flight:
            self._finish(self.in_flight.pop(0))

    def drop_in_flight(self):
        lost, self.in_flight = self.in_flight, []
        return lost

    def take_finished(self):
        done, self.finished = self.finished, []
        return done

    def forget_move(self):
        pass

    def refocus(self, tile):
        self.calls.append(f"refocus {tile.index}")
        return self.refocus_to.get(tile.index)

    def set_focus_um(self, index, z_um):
        self.z_um[index] = z_um

    def stop_stage(self):
        self.calls.append("stop stage")

    def _finish(self, spec):
        img = np.ones((2, 2), np.float32)
        self.calls.append(f"finished {spec.index}")
        self.finished.append(
            Tile(spec, spec.x_mm, 0.0, self.z_um.get(spec.index, 0.0), 1.0, {}, {260: img}, {}, 0.0)
        )


class FakeFocus:
    """Doubts the tiles in ``doubtful`` once each (a retaken tile is judged in focus)."""

    def __init__(self, doubtful=()) -> None:
        self.doubtful = set(doubtful)

    def assess(self, tile):
        if tile.index in self.doubtful:
            self.doubtful.discard(tile.index)
            return True
        return False

    def manifest_entry(self):
        return {"mode": "fake"}


class FakeBackgrounds:
    """A background falls due once the tile in ``drift_at`` is delivered."""

    def __init__(self, drift_at=None) -> None:
        self.due = None
        self.drift_at = drift_at
        self.taken = 0

    def check_schedule(self):
        pass

    def tile_taken(self, more_tiles):
        self.taken += 1

    def check_drift(self, tile):
        if tile.index == self.drift_at:
            self.due = DriftDecision("drift", "clear-field level drifted", 5.0)

    def take_due(self):
        due, self.due = self.due, None
        return due


class FakeFolder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.manifest: dict = {}

    def log_event(self, kind, message, **extra):
        self.events.append((kind, message))

    def update_manifest(self, **changes):
        self.manifest.update(changes)


class FakeRig:
    def __init__(self) -> None:
        self.reopened = 0

    def reopen(self):
        self.reopened += 1


class FakeSinks:
    """Collects tiles; the stop rule fires once ``stop_after`` tiles arrived."""

    def __init__(self, stop_after=None) -> None:
        self.tiles: list[int] = []
        self.stop_after = stop_after

    def put(self, tile):
        self.tiles.append(tile.index)

    def should_stop(self):
        return self.stop_after is not None and len(self.tiles) >= self.stop_after


class GrowingPlan:
    """A "count N cells" plan: rings of ``ring`` tiles further out while asked."""

    def __init__(self, ring: int, rings: int) -> None:
        self.ring, self.rings, self.asked = ring, rings, 0

    def next_tiles(self):
        if self.asked >= self.rings:
            return []
        self.asked += 1
        return specs(self.ring, start=(self.asked - 1) * self.ring)


class Harness:
    def __init__(self, plan=None, *, focus=None, bgs=None, sinks=None, per_tile=2, per_scan=10):
        self.engine = FakeEngine()
        self.focus = focus or FakeFocus()
        self.bgs = bgs or FakeBackgrounds()
        self.sinks = sinks or FakeSinks()
        self.folder = FakeFolder()
        self.rig = FakeRig()
        self.events = ScanEvents()
        self.control = RunControl(self.events)
        self.budget = RetryBudget(per_tile, per_scan)
        recovery = DeviceErrorPolicy(
            self.budget, "stop", self.control, self.rig, self.folder, self.events
        )
        parts = LoopParts(
            self.engine,
            self.focus,
            self.bgs,
            recovery,
            self.control,
            self.events,
            self.folder,
            VirtualClock(),
        )
        self.plan = plan if plan is not None else FixedPlan(specs(4))
        self.loop = ScanLoop(parts, self.plan, lambda: self.sinks, ProgressBase(0, 4, 0.0, 0.0))

    def run(self):
        return self.loop.run(PREP)

    def calls(self, *prefixes):
        return [c for c in self.engine.calls if c.startswith(prefixes)]


def test_the_preparation_runs_first_then_every_tile_pipelined_one_deep():
    h = Harness()
    assert h.run() == ("complete", "")
    assert h.engine.calls[:4] == ["darks", "background", "focus", "begin"]
    assert h.calls("exec", "finished", "flush") == [
        "exec 0",
        "exec 1",
        "finished 0",  # tile 0's frames are read while tile 1 is exposed
        "exec 2",
        "finished 1",
        "exec 3",
        "finished 2",
        "flush",  # the last tile has no next one: its teardown reads every frame
        "finished 3",
        "flush",  # the end of a run of tiles reads out once more (nothing is left)
    ]
    assert h.sinks.tiles == [0, 1, 2, 3] and h.loop.acquired_now == 4
    assert h.bgs.taken == 4 and h.control.state == RunState.RUNNING
    assert h.folder.manifest["focus"] == {"mode": "fake"}


def test_a_device_error_retakes_the_lost_tiles_in_order_within_the_budget():
    h = Harness()
    h.engine.fail_exec = {2: 1}  # tile 1's frames are in flight when tile 2 fails
    assert h.run() == ("complete", "")
    assert h.calls("exec", "error") == ["exec 0", "exec 1", "error 2", "exec 1", "exec 2", "exec 3"]
    assert h.sinks.tiles == [0, 1, 2, 3]  # each tile once, in order
    assert h.rig.reopened == 1 and h.budget.spent_by["tile 1"] == 1
    kinds = [k for k, _ in h.folder.events]
    assert kinds == ["device-error", "recovered"]
    # no tile boundary falls inside a retake: the drift schedule counts tile steps only
    assert h.bgs.taken == 4


def test_a_spent_retry_budget_stops_the_scan_with_the_finished_tiles_delivered():
    h = Harness(per_tile=1)
    h.engine.fail_exec = {2: 5}
    with pytest.raises(ScanError, match="retry budget spent"):
        h.run()
    assert h.calls("error") == ["error 2", "error 2"]  # the first try and its one retry
    assert h.sinks.tiles == [0]  # tile 0 finished before the error; tile 1's frames were lost


def test_a_doubtful_tile_is_refocused_after_a_flush_and_taken_again_at_the_new_focus():
    h = Harness(focus=FakeFocus(doubtful={1}))
    h.engine.refocus_to = {1: 7.5}
    assert h.run() == ("complete", "")
    calls = h.calls("exec", "refocus", "flush", "setup")
    i = calls.index("refocus 1")
    assert calls[i - 1] == "flush"  # nothing in flight when the stage leaves the tile path
    assert calls[i + 1 : i + 3] == ["setup 1", "exec 1"]
    assert h.sinks.tiles == [0, 2, 1, 3]  # held, re-focused, delivered once
    assert h.engine.z_um[1] == 7.5


def test_a_device_error_in_a_refocus_retake_retries_at_the_found_focus_without_probing_again():
    h = Harness(focus=FakeFocus(doubtful={1}))
    h.engine.refocus_to = {1: 7.5}
    probe = h.engine.refocus

    def probe_then_fail_the_retake(tile):
        h.engine.fail_exec[tile.index] = 1  # the retake's first exec fails
        return probe(tile)

    h.engine.refocus = probe_then_fail_the_retake
    assert h.run() == ("complete", "")
    assert h.calls("refocus") == ["refocus 1"]  # probed once
    assert h.calls("exec 1", "error 1") == ["exec 1", "error 1", "exec 1"]
    assert h.sinks.tiles == [0, 2, 1, 3] and h.engine.z_um[1] == 7.5
    assert [k for k, _ in h.folder.events] == ["device-error", "recovered"]


def test_a_tile_whose_refocus_finds_nothing_better_is_delivered_as_it_is():
    h = Harness(focus=FakeFocus(doubtful={0}))
    assert h.run() == ("complete", "")
    assert h.calls("exec 0") == ["exec 0"]  # not taken again
    assert sorted(h.sinks.tiles) == [0, 1, 2, 3]


def test_drift_queues_a_background_retake_after_a_flush_before_the_next_tile():
    h = Harness(bgs=FakeBackgrounds(drift_at=0))
    assert h.run() == ("complete", "")
    calls = h.calls("exec", "flush", "background")
    # tile 0 is delivered during tile 1's step: flush, then the background, then tile 2
    assert calls[:6] == ["background", "exec 0", "exec 1", "flush", "background drift", "exec 2"]


def test_the_stop_rule_ends_the_scan_at_the_next_tile_boundary():
    h = Harness(sinks=FakeSinks(stop_after=1))
    assert h.run() == ("stopped-early", "stop rule reached")
    # tile 0 reached the sinks during tile 1's step: tile 1 is read out, tile 2 never taken
    assert h.calls("exec") == ["exec 0", "exec 1"]
    assert h.sinks.tiles == [0, 1] and h.engine.calls[-1] == "stop stage"
    assert ("stop-rule", "scan ended early: stop rule reached") in h.folder.events


def test_an_interrupt_saves_the_frames_in_flight_and_ends_at_a_tile_boundary():
    h = Harness()
    h.engine.on_exec = lambda i: h.control.interrupt("operator") if i == 1 else None
    assert h.run() == ("interrupted", "operator")
    assert h.calls("exec") == ["exec 0", "exec 1"] and h.sinks.tiles == [0, 1]


def test_an_abort_raises_at_the_tile_boundary_after_delivering_nothing_more():
    h = Harness()
    h.engine.on_exec = lambda i: h.control.abort() if i == 0 else None
    with pytest.raises(ScanAborted):
        h.run()
    assert h.calls("exec") == ["exec 0"]


def test_a_pause_holds_the_loop_at_a_tile_boundary_until_resumed():
    h = Harness()
    resumed = threading.Event()

    def pause_then_resume(index):
        if index == 1:
            h.control.pause()
            threading.Timer(0.05, lambda: (resumed.set(), h.control.resume())).start()

    h.engine.on_exec = pause_then_resume
    h.control.set_state(RunState.RUNNING)
    assert h.run() == ("complete", "")
    assert resumed.is_set() and h.sinks.tiles == [0, 1, 2, 3]


def test_a_growing_plan_is_asked_for_more_tiles_until_it_has_none():
    plan = GrowingPlan(ring=3, rings=3)
    h = Harness(plan)
    assert h.run() == ("complete", "")
    assert plan.asked == 3 and h.sinks.tiles == list(range(9))
    assert h.loop.progress.total == 4 + 6  # the first ring counted in the plan, two more grown


def test_each_grown_ring_is_preceded_by_a_focus_step_over_its_tiles():
    h = Harness(GrowingPlan(ring=3, rings=3))
    h.run()
    # the first ring is covered by the focus built before the tiles; each later ring gets a
    # focus step over its tiles, with every frame of the ring before it read out
    calls = [c for c in h.calls("focus", "exec", "flush") if c != "flush"]
    assert calls == ["focus", *[f"exec {i}" for i in range(3)]] + [
        c for ring in (1, 2) for c in ["focus 3", *[f"exec {3 * ring + i}" for i in range(3)]]
    ]
    before_focus = h.engine.calls[h.engine.calls.index("focus 3") - 1]
    assert before_focus == "flush"  # nothing in flight while the map grows
    fixed = Harness()
    fixed.run()
    assert fixed.calls("focus") == ["focus"]  # a fixed plan: the one focus step, as ever


def test_a_growing_plan_stops_growing_once_the_stop_rule_fires():
    plan = GrowingPlan(ring=3, rings=10)
    h = Harness(plan, sinks=FakeSinks(stop_after=4))
    status, _ = h.run()
    # ring 1 (tiles 3-5) was asked for with 3 tiles counted; tile 4 met the rule mid-ring
    assert status == "stopped-early" and plan.asked == 2
    assert h.sinks.tiles[:4] == [0, 1, 2, 3]
