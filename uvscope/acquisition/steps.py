"""The steps a scan is made of, and the protocols the scan loop (``runner``) is typed on.

A scan is one queue of frozen steps run in order by ``runner.ScanLoop``: darks and the first
background (or a resumed scan's checked background), the focus source, the start of the tiles,
then one ``TileStep`` per planned tile. Work the tiles call for is queued first at a safe point:
a ``FlushStep`` (read out the frames in flight), then a ``RefocusStep`` per tile whose focus is
in doubt, then a ``BackgroundStep`` when the illumination drifted or the schedule is due. A
step a device error hit is queued again, first, with the tiles whose frames it lost to take
again before its own (``retake``) and the tiles the error hit (``failed``).

Frames are pipelined: a step TRIGGERS frames, and the frames it reads out may complete EARLIER
tiles (``TileEngine.take_finished``). So one step is not one tile; the loop hands on whatever
tiles a step finished, whichever step triggered them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from uvscope.acquisition.drift import DriftDecision
from uvscope.acquisition.tiles import Tile, TileSpec


# ---------------------------------------------------------------------- the preparation
@dataclass(frozen=True)
class DarkStep:
    """Dark frames for every exposure (the wheel's blocked slot), written as ``dark_id``.

    ``reuse``: load the resumed scan's checked darks of that id instead of taking new ones.
    """

    dark_id: str
    reuse: bool = False


@dataclass(frozen=True)
class BackgroundStep:
    """A background per wavelength at a blank position, with the darks of the scan.

    ``due`` None: the scan's first background; otherwise why it is taken again (drift or
    schedule), at the previous one's position and focus.
    """

    due: DriftDecision | None = None


@dataclass(frozen=True)
class ReloadBackgroundStep:
    """A resume's checked background (the manifest's newest whole entry), loaded from disk."""

    entry: dict[str, Any]


@dataclass(frozen=True)
class FocusStep:
    """Build the focus source for the tiles (fixed, one autofocus, or a focus map).

    ``tiles``: a growing plan's new ring, queued before its tiles: the focus source is
    extended to cover them (a growing scan's map measures the points they need)."""

    tiles: tuple[TileSpec, ...] = ()


@dataclass(frozen=True)
class BeginTilesStep:
    """The preparation is over: the tile engine and the sinks open, the run is RUNNING."""


# ---------------------------------------------------------------------- the tiles
@dataclass(frozen=True)
class TileStep:
    """Trigger the frames of one planned tile; ``next_spec`` is the tile the stage moves on to
    while the last frame is read out (None: the last of a run of tiles, every frame is read
    before the step ends). Before it the loop honours the operator (a tile boundary), unless
    it is being retried after a device error (``failed``)."""

    spec: TileSpec
    next_spec: TileSpec | None = None
    #: tiles whose frames a device error lost, taken again first (pipelined, no boundary)
    retake: tuple[TileSpec, ...] = ()
    #: tiles hit by device errors in this step's tries (logged as recovered once taken)
    failed: frozenset[int] = frozenset()


@dataclass(frozen=True)
class FlushStep:
    """Read out every frame still in flight: afterwards nothing is triggered or pending, so
    the stage may leave the tile path (a re-focus, a background)."""

    retake: tuple[TileSpec, ...] = ()
    failed: frozenset[int] = frozenset()


@dataclass(frozen=True, eq=False)
class RefocusStep:
    """Re-focus a delivered tile whose focus is in doubt and, if the focus is elsewhere,
    take it again there (else it is delivered as it is, with its focus verdict).

    ``z_um``: the focus the re-focus found (set when the step is retried after a device error:
    the tile is taken again there without a new probe)."""

    tile: Tile
    z_um: float | None = None
    retake: tuple[TileSpec, ...] = ()
    failed: frozenset[int] = frozenset()


ScanStep = (
    DarkStep
    | BackgroundStep
    | ReloadBackgroundStep
    | FocusStep
    | BeginTilesStep
    | TileStep
    | FlushStep
    | RefocusStep
)


def tile_steps(todo: Sequence[TileSpec]) -> list[TileStep]:
    """One step per tile; each knows the next, so the stage moves on during readout."""
    return [
        TileStep(spec, todo[i + 1] if i + 1 < len(todo) else None) for i, spec in enumerate(todo)
    ]


# ---------------------------------------------------------------------- what the loop drives
class TileEngine(Protocol):
    """The hardware side of a scan, in the manner of pymmcore-plus's ``PMDAEngine``: every
    device operation the loop (``runner.ScanLoop``) asks for, and nothing else.

    For every ``TileStep`` the loop calls ``setup_step``, ``exec_step`` and ``teardown_step``;
    finished tiles (frames read out, possibly of earlier steps) collect until
    ``take_finished``. On a device error the loop calls ``drop_in_flight`` for the tiles whose
    frames were lost and takes them again.
    """

    def take_darks(self, step: DarkStep) -> None:
        """Dark frames for every exposure (or a resume's, reloaded)."""

    def take_background(self, step: BackgroundStep) -> None:
        """A background per wavelength (the first, or one taken again)."""

    def reload_background(self, step: ReloadBackgroundStep) -> None:
        """A resume's checked background, from disk."""

    def prepare_focus(self, step: FocusStep) -> None:
        """The focus source for the tiles (autofocus or focus map), or its extension over
        a grown ring's tiles (``step.tiles``; nothing is in flight then)."""

    def begin_tiles(self) -> None:
        """Ready to take tiles (after the focus source is known)."""

    def setup_step(self, step: TileStep) -> None:
        """Bring the devices to the tile: stage and focus there, wheel at its first filter."""

    def exec_step(self, step: TileStep) -> None:
        """Expose every wavelength of the tile (frames may still be in flight afterwards)."""

    def teardown_step(self, step: TileStep) -> None:
        """End the step: the last of a run of tiles reads out every frame."""

    def flush(self) -> None:
        """Read out every frame in flight."""

    def drop_in_flight(self) -> list[TileSpec]:
        """Forget frames in flight (a device error lost them); the tiles they belong to."""

    def take_finished(self) -> list[Tile]:
        """The tiles read out since the last call, in the order they were taken."""

    def forget_move(self) -> None:
        """The stage leaves the tile path: the next tile's move starts afresh."""

    def refocus(self, tile: Tile) -> float | None:
        """Probe (and sweep) a doubtful tile: the z to take it again at, or None to keep it
        (with its focus verdict set)."""

    def set_focus_um(self, index: int, z_um: float) -> None:
        """Take tile ``index`` (again) at ``z_um``."""

    def stop_stage(self) -> None:
        """Stop the stage's move towards a tile that will not be taken."""


# ---------------------------------------------------------------------- the loop's policies
class FocusPolicy(Protocol):
    """Judges each finished tile's focus (and records it on the tile)."""

    def assess(self, tile: Tile) -> bool:
        """True: the tile's focus is in doubt, hold it for a ``RefocusStep``."""

    def manifest_entry(self) -> dict[str, Any]:
        """The focus record the manifest keeps (after each re-focus)."""


class BackgroundPolicy(Protocol):
    """Says when a background is due: illumination drift seen in the tiles, or the schedule."""

    due: DriftDecision | None

    def check_schedule(self) -> None:
        """Is a background due by the schedule (before a tile)?"""

    def tile_taken(self, more_tiles: bool) -> None:
        """A tile's frames were triggered with the current background."""

    def check_drift(self, tile: Tile) -> None:
        """Record the finished tile's clear-field level; note when a background is due."""

    def take_due(self) -> DriftDecision | None:
        """The due background's reason, cleared (None: none due)."""


class ScanRecord(Protocol):
    """The scan folder as the loop writes to it: its event log and its manifest."""

    def log_event(self, kind: str, message: str, **extra: Any) -> None: ...

    def update_manifest(self, **changes: Any) -> object: ...


class PlanSource(Protocol):
    """Where the loop's tiles come from. ``next_tiles`` is asked whenever the tile steps run
    dry and the stop rule has not fired; an empty answer ends the scan. A fixed plan answers
    once; a growing one ("count N white cells") answers again with tiles further out."""

    def next_tiles(self) -> Sequence[TileSpec]: ...


class FixedPlan:
    """The planned tiles still to take, handed out once."""

    def __init__(self, todo: Sequence[TileSpec]) -> None:
        self._todo: list[TileSpec] | None = list(todo)

    def next_tiles(self) -> Sequence[TileSpec]:
        todo, self._todo = self._todo or [], None
        return todo
