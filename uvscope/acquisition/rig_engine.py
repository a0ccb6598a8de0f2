"""The hardware side of a scan on a ``Rig``: the ``TileEngine`` the scan loop drives.

It puts together the three device-facing parts of a scan: the ``BackgroundKeeper`` (darks and
backgrounds), the ``FocusController`` (focus source before the tiles, re-focus during them) and
the ``TileAcquirer`` (move, settle, expose, pipelined across tiles), built when the tiles begin
so it starts from the devices (the focus) as the preparation left them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvscope.acquisition.acquirer import FocusSource, TileAcquirer
from uvscope.acquisition.background_steps import BackgroundKeeper
from uvscope.acquisition.focus_control import FocusController
from uvscope.acquisition.plan import GridPlan
from uvscope.acquisition.steps import (
    BackgroundStep,
    DarkStep,
    FocusStep,
    ReloadBackgroundStep,
    TileStep,
)
from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.errors import ScanError

Log = Callable[..., None]


@dataclass(frozen=True)
class FocusSetup:
    """What the focus source is built from: the plan, the manifest's saved focus (a resume),
    and a focus source given by the caller (then no autofocus or map is made). A growing
    scan: ``grow_from_mm``, its start (the map grows from there with the rings), and
    ``first_tiles``, the tiles it takes first (a resume's may reach past the saved map)."""

    plan: GridPlan
    saved: dict[str, Any] | None
    given: FocusSource | None
    grow_from_mm: tuple[float, float] | None = None
    first_tiles: tuple[TileSpec, ...] = ()


class RigEngine:
    """Darks, backgrounds, focus and tiles on one rig (the ``TileEngine`` of ``steps``)."""

    def __init__(
        self,
        rig: Rig,
        scan: ScanConfig,
        keeper: BackgroundKeeper,
        focus: FocusSetup,
        should_abort: Callable[[], bool],
        log: Log,
    ) -> None:
        self.rig, self.scan, self.keeper = rig, scan, keeper
        self.focus_setup = focus
        self.focus_source: FocusSource | None = focus.given
        self._should_abort = should_abort
        #: the focus source's builder, and the per-tile focus check the loop consults
        self.focus = FocusController(
            rig,
            scan,
            keeper.normalise,
            should_stop=should_abort,
            log=log,
            prep=keeper.prep,
        )
        self._acquirer: TileAcquirer | None = None

    @property
    def acquirer(self) -> TileAcquirer:
        if self._acquirer is None:
            raise ScanError("a tile step ran before the tiles began")
        return self._acquirer

    # ------------------------------------------------------------------ the preparation
    def take_darks(self, step: DarkStep) -> None:
        self.keeper.take_darks(step)

    def take_background(self, step: BackgroundStep) -> None:
        if step.due is not None:
            self.forget_move()  # the stage leaves the tile path
        self.keeper.take_background(step)

    def reload_background(self, step: ReloadBackgroundStep) -> None:
        self.keeper.reload(step)

    def prepare_focus(self, step: FocusStep) -> None:
        """The focus source (autofocus or map), unless the caller gave one; a grown ring
        (``step.tiles``): the map extended over it."""
        ctl, setup = self.focus, self.focus_setup
        if step.tiles:
            if self.focus_source is ctl and ctl.extend(step.tiles) and self._acquirer:
                self._acquirer.forget_move()  # the stage left the tile path
            return
        if setup.grow_from_mm is not None:
            ctl.grow_from(setup.grow_from_mm)
        if self.focus_source is None and ctl.prepare(setup.plan, setup.saved) is not None:
            self.focus_source = ctl
            ctl.extend(setup.first_tiles)

    def begin_tiles(self) -> None:
        self._acquirer = TileAcquirer(
            self.rig, self.scan, self.keeper.backgrounds, self.focus_source, self._should_abort
        )

    # ------------------------------------------------------------------ the tiles
    def setup_step(self, step: TileStep) -> None:
        self.acquirer.setup_step(step)

    def exec_step(self, step: TileStep) -> None:
        self.acquirer.exec_step(step)

    def teardown_step(self, step: TileStep) -> None:
        self.acquirer.teardown_step(step)

    def flush(self) -> None:
        self.acquirer.flush()

    def drop_in_flight(self) -> list[TileSpec]:
        return self.acquirer.drop_in_flight()

    def take_finished(self) -> list[Tile]:
        return self.acquirer.take_finished()

    def forget_move(self) -> None:
        self.acquirer.forget_move()

    def refocus(self, tile: Tile) -> float | None:
        return self.focus.refocus(tile)

    def set_focus_um(self, index: int, z_um: float) -> None:
        self.acquirer.set_focus_um(index, z_um)

    def stop_stage(self) -> None:
        self.rig.stage.stop()
