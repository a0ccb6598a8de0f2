"""The tile acquirer: move -> settle -> expose each wavelength, pipelined across tiles.

Device operations overlap wherever the hardware allows: the stage moves to the next tile (and
the wheel turns to the next filter) while the camera reads out the last frame, and frames are
read one trigger later when the camera can hold a frame while exposing the next (interline
CCD). The wavelength order alternates tile to tile, so the wheel is already at the first
filter of each new tile. This is what keeps a scan at the timing model's bound
(``benchmarks/bench_acquisition.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from uvscope.acquisition.background import Backgrounds
from uvscope.acquisition.steps import TileStep
from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.config import ScanConfig
from uvscope.drivers.base import FrameMeta
from uvscope.drivers.rig import Rig
from uvscope.errors import ScanAborted


class FocusSource(Protocol):
    """Gives the focus for a tile (a fixed z, a fitted focus map, ...)."""

    def z_at(self, x_mm: float, y_mm: float) -> float: ...


def focus_deltas_um(scan: ScanConfig) -> dict[int, float]:
    """Focus of each wavelength relative to the tile's focus, which is measured at the focus
    wavelength (the chromatic focal shift of the objective)."""
    nms = [w.nm for w in scan.wavelengths]
    focus_nm = scan.focus.wavelength_nm if scan.focus.wavelength_nm in nms else nms[0]
    offsets = {w.nm: w.focus_offset_um for w in scan.wavelengths}
    return {nm: off - offsets[focus_nm] for nm, off in offsets.items()}


@dataclass
class _TileInProgress:
    spec: TileSpec
    x_mm: float
    y_mm: float
    z_um: float
    t_acq_s: float
    n_wavelengths: int
    raws: dict[int, np.ndarray] = field(default_factory=dict)
    frames: dict[int, FrameMeta] = field(default_factory=dict)


class TileAcquirer:
    """Takes planned tiles on a rig: the tile half of ``rig_engine.RigEngine``.

    ``backgrounds`` gives the current darks and backgrounds (a retaken background applies to
    the tiles taken after it); ``should_abort`` says the operator aborted, so a stage move cut
    short never yields a tile at the wrong place.
    """

    def __init__(
        self,
        rig: Rig,
        scan: ScanConfig,
        backgrounds: Callable[[], Backgrounds],
        focus_source: FocusSource | None,
        should_abort: Callable[[], bool],
    ) -> None:
        self.rig = rig
        self._wavelengths_nm = [w.nm for w in scan.wavelengths]
        self._exposures_ms = {w.nm: w.exposure_ms for w in scan.wavelengths}
        self._focus_delta_um = focus_deltas_um(scan)
        self._backgrounds = backgrounds
        self._focus_source = focus_source
        self._should_abort = should_abort
        #: fixed focus "where it is", needed as a base when the wavelengths have offsets
        self._hold_z_um = rig.focus.position_um() if any(self._focus_delta_um.values()) else None
        self._z_override_um: dict[int, float] = {}  # tile index -> z found by a re-focus
        self._moving_to: int | None = None  # tile index the stage is already moving to
        self._pending: list[tuple[_TileInProgress, int]] = []  # frames triggered, not read
        self._finished: list[Tile] = []  # read out, not yet taken by the runner
        self._order_nm: list[int] = []  # wavelength order of the tile being set up
        self._base_z_um: float | None = None  # its focus at the focus wavelength

    # ------------------------------------------------------------------ TileEngine
    def setup_step(self, step: TileStep) -> None:
        spec, rig = step.spec, self.rig
        self._order_nm = self._order()
        if self._moving_to != spec.index:
            self._start_move(spec)
        self._base_z_um = self._z_for(spec)
        rig.filter_wheel.start_move_to_slot(rig.filter_wheel.slot_for(self._order_nm[0]))
        rig.stage.wait()
        rig.focus.wait()
        if self._should_abort():  # the move was stopped short: no tile at the wrong place
            raise ScanAborted("scan aborted by the user")

    def exec_step(self, step: TileStep) -> None:
        """Trigger each wavelength; the next filter (and its focal plane) is moved to while
        the camera exposes, and after the last trigger the stage leaves for the next tile."""
        rig, order, base = self.rig, self._order_nm, self._base_z_um
        wheel = rig.filter_wheel
        x_mm, y_mm = rig.stage.position_mm()
        ctx: _TileInProgress | None = None
        for k, nm in enumerate(order):
            self._focus_for(base, nm)  # chromatic focal shift: a small move beside the wheel's
            wheel.wait()
            rig.focus.wait()
            if ctx is None:  # the tile's z is the focus wavelength's, as measured
                delta = self._focus_delta_um[nm] if base is not None else 0.0
                ctx = _TileInProgress(
                    step.spec,
                    x_mm,
                    y_mm,
                    rig.focus.position_um() - delta,
                    rig.clock.now(),
                    len(order),
                )
            if rig.camera.exposure_ms != self._exposures_ms[nm]:
                rig.camera.set_exposure_ms(self._exposures_ms[nm])
            rig.camera.trigger()
            self._pending.append((ctx, nm))
            if k + 1 < len(order):
                wheel.start_move_to_slot(wheel.slot_for(order[k + 1]))
                self._focus_for(base, order[k + 1])
            else:
                self._moving_to = None
                if step.next_spec is not None:
                    self._start_move(step.next_spec)  # overlaps the readout of the last frame
            self._read_pending(keep=rig.camera.max_pending_frames - 1)

    def teardown_step(self, step: TileStep) -> None:
        if step.next_spec is None:
            self.flush()

    def flush(self) -> None:
        self._read_pending(keep=0)

    def drop_in_flight(self) -> list[TileSpec]:
        lost = [ctx.spec for ctx, _ in self._pending]
        self._pending.clear()
        self._moving_to = None
        return lost

    def take_finished(self) -> list[Tile]:
        done, self._finished = self._finished, []
        return done

    # ------------------------------------------------------------------ off the tile path
    def forget_move(self) -> None:
        """The stage leaves the tile path (a re-focus, a background): the next tile's move
        starts afresh."""
        self._moving_to = None

    def set_focus_um(self, index: int, z_um: float) -> None:
        """Take tile ``index`` (again) at ``z_um``, the focus a re-focus found for it."""
        self._z_override_um[index] = z_um

    # ------------------------------------------------------------------ helpers
    def _order(self) -> list[int]:
        """Wavelength order for the next tile: start at the filter the wheel is at, if it is
        either end of the list, so the order alternates tile to tile and saves wheel moves."""
        nms = self._wavelengths_nm
        at_end = len(nms) > 1 and self.rig.filter_wheel.wavelength_nm == nms[-1]
        return nms[::-1] if at_end else nms

    def _z_for(self, spec: TileSpec) -> float | None:
        """The tile's focus at the focus wavelength; None: leave the focus where it is."""
        if spec.index in self._z_override_um:
            return self._z_override_um[spec.index]
        if self._focus_source is not None:
            return self._focus_source.z_at(spec.x_mm, spec.y_mm)
        return spec.z_um if spec.z_um is not None else self._hold_z_um

    def _start_move(self, spec: TileSpec) -> None:
        """Stage and focus towards ``spec``; focus for the wavelength the tile starts with."""
        self.rig.stage.start_move_to_mm(spec.x_mm, spec.y_mm)
        z_um = self._z_for(spec)
        if z_um is not None:
            self.rig.focus.start_move_to_um(z_um + self._focus_delta_um[self._order()[0]])
        self._moving_to = spec.index

    def _focus_for(self, base_um: float | None, nm: int) -> None:
        """Start the focus move to ``nm``'s focal plane if the axis is not there already."""
        if base_um is None:
            return
        z_um = base_um + self._focus_delta_um[nm]
        if abs(self.rig.focus.position_um() - z_um) > 1e-6:
            self.rig.focus.start_move_to_um(z_um)

    def _read_pending(self, keep: int) -> None:
        """Read frames in trigger order until at most ``keep`` remain in flight."""
        while len(self._pending) > keep:
            ctx, nm = self._pending[0]
            frame = self.rig.camera.read()
            self._pending.pop(0)
            ctx.raws[nm], ctx.frames[nm] = frame.image, frame.meta
            if len(ctx.raws) == ctx.n_wavelengths:
                self._finished.append(self._finish(ctx))

    def _finish(self, ctx: _TileInProgress) -> Tile:
        bgs = self._backgrounds()
        return Tile(
            spec=ctx.spec,
            x_mm=ctx.x_mm,
            y_mm=ctx.y_mm,
            z_um=ctx.z_um,
            pixel_size_um=self.rig.pixel_size_um,
            raw=dict(ctx.raws),
            normalised={nm: bgs.normalise(nm, raw) for nm, raw in ctx.raws.items()},
            exposure_ms={nm: meta.exposure_ms for nm, meta in ctx.frames.items()},
            acquired_at_s=ctx.t_acq_s,
            background_id=bgs.id,
            frames=dict(ctx.frames),
        )
