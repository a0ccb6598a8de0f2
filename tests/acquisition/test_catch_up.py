"""The catch-up of a resumed target-count run: progress k of N, the tiles handed on for
display before they are queued, an abort or interrupt stopping it between two tiles."""

from __future__ import annotations

import numpy as np
import pytest

from uvscope.acquisition.catch_up import catch_up_resumed
from uvscope.acquisition.control import RunControl
from uvscope.acquisition.events import PrepStep, ScanEvents
from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.errors import ScanAborted


def _tile(index: int) -> Tile:
    img = np.ones((2, 2), np.float32)
    spec = TileSpec(index, 0, index, float(index), 0.0)
    return Tile(spec, float(index), 0.0, 0.0, 0.5, {}, {260: img}, {260: 50.0}, 1.0)


class SavedTiles:
    """Hands its saved tiles to ``catch_up``'s call-back as the analysis session does."""

    def __init__(self, n: int, on_put=None) -> None:
        self.tiles = [_tile(i) for i in range(n)]
        self.queued: list[int] = []
        self.on_put = on_put

    def put(self, tile: Tile) -> None:
        self.queued.append(tile.spec.index)
        if self.on_put is not None:
            self.on_put(len(self.queued))

    def catch_up(self, before_tile=None) -> int:
        for k, tile in enumerate(self.tiles):
            if before_tile is not None:
                before_tile(tile, k, len(self.tiles))
            self.put(tile)
        return len(self.tiles)


def test_each_saved_tile_is_reported_shown_then_queued() -> None:
    events = ScanEvents()
    control = RunControl(events)
    steps, shown = [], []
    events.preparing.connect(steps.append)
    sink = SavedTiles(3)
    n = catch_up_resumed([object(), sink], events.preparing.emit, control, shown.append)
    assert n == 3 and sink.queued == [0, 1, 2]
    assert [t.spec.index for t in shown] == [0, 1, 2]
    assert [(p.step, p.done, p.total) for p in steps] == [
        (PrepStep.CATCH_UP, k, 3) for k in range(4)
    ]
    assert steps[0].text() == "Counting the earlier tiles: tile 1 of 3"
    assert steps[-1].text() == "Counting the earlier tiles: 3 of 3 tiles done"


def test_no_sink_that_can_catch_up_means_nothing_to_do() -> None:
    events = ScanEvents()
    assert catch_up_resumed([object()], events.preparing.emit, RunControl(events)) is None


@pytest.mark.parametrize("request_", ["abort", "interrupt"])
def test_an_abort_or_interrupt_stops_it_between_two_tiles(request_: str) -> None:
    events = ScanEvents()
    control = RunControl(events)

    def after_put(queued: int) -> None:
        if queued == 2:
            control.abort() if request_ == "abort" else control.interrupt("test")

    sink = SavedTiles(5, after_put)
    if request_ == "abort":
        with pytest.raises(ScanAborted):
            catch_up_resumed([sink], events.preparing.emit, control)
    else:
        assert catch_up_resumed([sink], events.preparing.emit, control) is None
    assert sink.queued == [0, 1]
