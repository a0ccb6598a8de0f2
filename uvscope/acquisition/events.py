"""What the scan engine tells the world: run states, progress and events (psygnal, no Qt)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from psygnal import Signal, SignalGroup

from uvscope.acquisition.tiles import Tile


class RunState(Enum):
    IDLE = "idle"
    PREPARING = "preparing"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"  # stopped at a tile boundary (a signal); --resume finishes it
    FAILED = "failed"


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int
    elapsed_s: float
    rate_tiles_per_s: float
    eta_s: float | None
    virtual_elapsed_s: float


class PrepStep(Enum):
    """A step of the preparation before the first tile; the value is what the operator reads."""

    DARKS = "Dark frames"
    BACKGROUND = "Background"
    FOCUS = "Autofocus"
    FOCUS_MAP = "Focus map"
    #: a resumed target-count scan analyses the tiles taken before the interrupt first
    CATCH_UP = "Counting the earlier tiles"


_UNIT = {
    PrepStep.DARKS: "wavelength",
    PrepStep.BACKGROUND: "wavelength",
    PrepStep.FOCUS: "point",
    PrepStep.FOCUS_MAP: "point",
    PrepStep.CATCH_UP: "tile",
}


@dataclass(frozen=True)
class PrepProgress:
    """Progress of one preparation step: ``done`` of ``total`` items finished (wavelengths,
    focus points), ``detail`` naming the one in work, an ETA from the items done so far."""

    step: PrepStep
    done: int
    total: int
    elapsed_s: float
    eta_s: float | None
    detail: str = ""

    def text(self) -> str:
        """One line, e.g. "Focus map: point 3 of 9, about 40 s left"."""
        unit = _UNIT[self.step]
        if self.done >= self.total:
            return f"{self.step.value}: {self.total} of {self.total} {unit}s done"
        line = f"{self.step.value}: {unit} {self.done + 1} of {self.total}"
        if self.detail:
            line += f" ({self.detail})"
        if self.eta_s is not None:
            line += f", about {_about(self.eta_s)} left"
        return line


def _about(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    return f"{s} s" if s < 120 else f"{round(s / 60)} min"


@dataclass(frozen=True)
class ScanSummary:
    status: str  # "complete", "stopped-early", "interrupted", "aborted", "failed"
    out_dir: str
    tiles_total: int
    tiles_done: int
    tiles_acquired_now: int
    wall_s: float
    device_time_s: float
    message: str = ""
    errors: list[str] = field(default_factory=list)


class ScanEvents(SignalGroup):
    state_changed = Signal(RunState)
    progress = Signal(ScanProgress)
    preparing = Signal(PrepProgress)  # darks, background, focus points before the first tile
    tile_acquired = Signal(Tile)
    background_acquired = Signal(int, object)  # wavelength, float32 image
    device_error = Signal(str)
    log = Signal(str)
    finished = Signal(ScanSummary)
