"""A resumed target-count scan counts the tiles taken before the interrupt first.

Its stop rule counts the cells the analysis sink has seen; a resume whose earlier tiles were
left for the end would count from 0 and overshoot the target by the cells already taken. The
engine calls this as the first step of a resumed target-count run (after the folder's checks,
before the darks), so ``uvscope scan --resume`` and the GUI's resume share it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from uvscope.acquisition.control import RunControl
from uvscope.acquisition.events import PrepProgress, PrepStep
from uvscope.acquisition.prep_progress import PrepReporter
from uvscope.acquisition.tiles import Tile


class _Interrupted(Exception):
    """An interrupt came during the catch-up: the run stops at its first tile boundary."""


def catch_up_resumed(
    sinks: Sequence[object],
    emit: Callable[[PrepProgress], None],
    control: RunControl,
    on_tile: Callable[[Tile], None] | None = None,
) -> int | None:
    """Hand the saved tiles to the first sink that can count them (the analysis session's
    ``catch_up``); each is reported as a ``PrepStep.CATCH_UP`` item (k of N, with an ETA)
    through ``emit`` and given to ``on_tile`` (a display) before it is queued.

    An abort raises ScanAborted; an interrupt stops the catch-up there. Returns the tiles
    queued, or None when no sink can catch up or an interrupt stopped it."""
    sink = next((s for s in sinks if hasattr(s, "catch_up")), None)
    if sink is None:
        return None
    prep = PrepReporter(emit)

    def before_tile(tile: Tile, queued: int, total: int) -> None:
        control.raise_if_aborted()
        if control.interrupted:
            raise _Interrupted
        if queued == 0:
            prep.begin(PrepStep.CATCH_UP, total)
        else:
            prep.advance()
        if on_tile is not None:
            on_tile(tile)

    try:
        queued = int(sink.catch_up(before_tile))
    except _Interrupted:
        return None
    if queued:
        prep.advance()  # N of N
    return queued
