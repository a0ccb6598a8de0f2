"""The steps a scan is made of, and the protocol of the engine that takes a tile.

A scan is a queue of steps run in order by the runner (``uvscope.acquisition.engine``):
darks and the first background (or the resumed scan's checked background), then one
``TileStep`` per planned tile. Work the tiles call for is queued as steps of its own at a safe
point: a ``FlushStep`` (read out the frames in flight) first, then a ``RefocusStep`` per tile
whose focus is in doubt and a ``BackgroundStep`` when the illumination drifted or the schedule
is due. Steps are plain values, so what a scan does next can be read off its queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from uvscope.acquisition.drift import DriftDecision
from uvscope.acquisition.tiles import Tile, TileSpec


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
class TileStep:
    """Take one planned tile; ``next_spec`` is the tile the stage moves on to while the last
    frame is read out (None: the last of a run of tiles, every frame is read before it ends)."""

    spec: TileSpec
    next_spec: TileSpec | None = None


@dataclass(frozen=True)
class FlushStep:
    """Read out every frame still in flight: afterwards nothing is triggered or pending, so
    the stage may leave the tile path (a re-focus, a background)."""


@dataclass(frozen=True, eq=False)
class RefocusStep:
    """Re-focus a delivered tile whose focus is in doubt and, if the focus is elsewhere,
    take it again there (else it is delivered as it is, with its focus flags)."""

    tile: Tile


ScanStep = DarkStep | BackgroundStep | ReloadBackgroundStep | TileStep | FlushStep | RefocusStep


class TileEngine(Protocol):
    """Takes tiles, in the manner of pymmcore-plus's ``PMDAEngine``: the runner calls
    ``setup_step``, ``exec_step`` and ``teardown_step`` for every ``TileStep``, and
    ``flush`` at safe points. Finished tiles collect until ``take_finished``.

    On a device error the runner calls ``drop_in_flight`` for the tiles whose frames were
    lost, reopens the devices and runs their steps again.
    """

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
