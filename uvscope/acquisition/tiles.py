"""Data that leaves the scan engine: planned tiles, acquired tiles and the sink protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from uvscope.drivers.base import FrameMeta
from uvscope.io.scanfolder import ScanFolder, TileRecord


@dataclass(frozen=True)
class TileSpec:
    """One planned field of view: grid indices and the stage target (image centre)."""

    index: int
    row: int
    col: int
    x_mm: float
    y_mm: float
    z_um: float | None = None


#: the focus verdict's fields as the tile record (``extra``) names them, in this order
_VERDICT_KEYS = {
    "score": "focus_score",
    "ratio": "focus_ratio",
    "structure_snr": "structure_snr",
    "out_of_focus": "out_of_focus",
    "check": "focus_check",
    "probe_offset_um": "probe_offset_um",
    "refocused": "refocused",
    "refocus_from_um": "refocus_from_um",
}


@dataclass
class FocusVerdict:
    """The scan's focus check of one tile (``focus_control``); None: not measured.

    ``out_of_focus`` True is what the analysis reads to leave the tile out of the counts.
    ``ratio`` is fine detail over total structure relative to the autofocus points, ``check``
    how a doubtful tile was settled ("blank", "probe", "confirmed", "sparse", "no focus
    peak"), ``probe`` the (dz, detail) samples of the quick probe (not saved).
    """

    score: float | None = None
    ratio: float | None = None
    structure_snr: float | None = None
    out_of_focus: bool | None = None
    check: str | None = None
    probe_offset_um: float | None = None
    refocused: bool | None = None
    refocus_from_um: float | None = None
    probe: list[list[float]] | None = None

    def to_extra(self) -> dict[str, object]:
        """The fields that were measured, under the tile record's names."""
        values = {key: getattr(self, name) for name, key in _VERDICT_KEYS.items()}
        return {k: v for k, v in values.items() if v is not None}

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None) -> FocusVerdict:
        """The verdict a tile record (``TileRecord.extra``) saved."""
        extra = extra or {}
        return cls(**{name: extra[key] for name, key in _VERDICT_KEYS.items() if key in extra})


def without_verdict(extra: Mapping[str, Any] | None) -> dict[str, object]:
    """A tile record's ``extra`` less the focus verdict's keys (those are ``Tile.focus``)."""
    keys = set(_VERDICT_KEYS.values())
    return {k: v for k, v in (extra or {}).items() if k not in keys}


@dataclass
class Tile:
    """One acquired field of view at one or more wavelengths.

    ``raw`` holds the camera frames (uint16); ``normalised`` holds
    (raw - dark) / (background - dark) as float32, 1.0 meaning fully transmissive.
    ``frames`` is the camera's own metadata of each frame (exposure, timestamp, frame index;
    empty for a tile read back from disk), ``focus`` the scan's focus verdict.
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
    focus: FocusVerdict = field(default_factory=FocusVerdict)
    frames: dict[int, FrameMeta] = field(default_factory=dict)

    @property
    def index(self) -> int:
        return self.spec.index

    @property
    def shape(self) -> tuple[int, int]:
        img = next(iter(self.normalised.values()))
        return (int(img.shape[0]), int(img.shape[1]))

    def to_record(self) -> TileRecord:
        """The tile's journal line: its place, exposures, background, the scalar ``extra``
        (drift levels), the focus verdict and the camera's frame indices and timestamps."""
        extra: dict[str, Any] = self.focus.to_extra()
        extra.update(
            {k: v for k, v in self.extra.items() if isinstance(v, (int, float, str, bool))}
        )
        if self.frames:
            extra["frame_index"] = {str(nm): m.frame_index for nm, m in self.frames.items()}
            extra["frame_time_s"] = {str(nm): m.timestamp_s for nm, m in self.frames.items()}
        return TileRecord(
            index=self.index,
            row=self.spec.row,
            col=self.spec.col,
            x_mm=self.x_mm,
            y_mm=self.y_mm,
            z_um=self.z_um,
            wavelengths=sorted(self.normalised),
            exposure_ms={str(k): v for k, v in self.exposure_ms.items()},
            background_id=self.background_id,
            acquired_at_s=self.acquired_at_s,
            extra=extra or None,
        )


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


@runtime_checkable
class FolderProduct(Protocol):
    """A sink that makes one of the scan folder's own files from its saved tiles (the stage
    mosaics, ``uvscope.io.stage_sink``), handed in like any other sink by whoever wires the
    scan (``prepare.prepare_scan``). The folder exists only once the scan runs: ``open`` gives
    it at the first tile. Its end comes after every other sink's (the analysis drained):
    ``close`` writes the file for a scan that was not cut short, and a file it cannot write
    fails the scan; ``abort`` drops it for one interrupted, failed or aborted (``--resume``
    makes it then). It is never left for `uvscope analyze`."""

    lossless: bool

    def open(self, folder: ScanFolder) -> None: ...

    def put(self, tile: Tile) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...
