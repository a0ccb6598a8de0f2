"""Data that leaves the scan engine: planned tiles, acquired tiles and the sink protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class TileSpec:
    """One planned field of view: grid indices and the stage target (image centre)."""

    index: int
    row: int
    col: int
    x_mm: float
    y_mm: float
    z_um: float | None = None


@dataclass
class Tile:
    """One acquired field of view at one or more wavelengths.

    ``raw`` holds the camera frames (uint16); ``normalised`` holds
    (raw - dark) / (background - dark) as float32, 1.0 meaning fully transmissive.
    """

    spec: TileSpec
    x_mm: float
    y_mm: float
    z_um: float
    pixel_size_um: float
    raw: dict[int, np.ndarray]
    normalised: dict[int, np.ndarray]
    exposure_ms: dict[int, float]
    acquired_at_s: float
    background_id: str = "bg0"
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def index(self) -> int:
        return self.spec.index

    @property
    def shape(self) -> tuple[int, int]:
        img = next(iter(self.normalised.values()))
        return (int(img.shape[0]), int(img.shape[1]))


class TileSink(Protocol):
    """A consumer of acquired tiles (writer, analysis, live view).

    ``lossless`` sinks make the engine wait when they fall behind (backpressure), and get a
    tile only once the writer has saved it; others may drop tiles. ``put`` is called from
    the engine thread; ``close`` after the last tile, and must return only once everything
    put has been handled (or re-raise the sink's error).
    """

    lossless: bool

    def put(self, tile: Tile) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class StopRule(Protocol):
    """A sink that knows when the scan has what it came for (e.g. N healthy white cells
    counted): once ``should_stop`` is True the scan loop ends at the next tile boundary, and a
    growing plan is not extended."""

    def should_stop(self) -> bool: ...
