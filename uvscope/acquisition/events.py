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
    tile_acquired = Signal(Tile)
    background_acquired = Signal(int, object)  # wavelength, float32 image
    device_error = Signal(str)
    log = Signal(str)
    finished = Signal(ScanSummary)
