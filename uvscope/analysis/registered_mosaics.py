"""The analysis mosaics of one scan: each analysed tile registered and drawn in as it comes.

Each tile's gray image feeds the streaming registration (``StreamingRegistration``) and the
tile goes into the gray / stained / label / outline mosaics, whose bands are written as soon
as every tile under them is in (``uvscope.analysis.mosaic.AnalysisMosaics``); ``finish``
writes the last bands. The file writer of the analysis (``AnalysisOutputs``) hands each tile
here and stays a writer of files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from uvscope.analysis.mosaic import KINDS, AnalysisMosaics, TileSources
from uvscope.analysis.pipeline import TileResult
from uvscope.analysis.registration import StreamingRegistration
from uvscope.analysis.settings import MosaicSettings
from uvscope.io.mosaic import MosaicGeometry, stage_origins
from uvscope.io.mosaic_pyramid import ProgressFn
from uvscope.io.packed import SPOOL_BUDGET_BYTES, ChunkSpool
from uvscope.io.plan_record import PlanRecord


class RegisteredMosaics:
    """Registration and mosaics of the analysed tiles; thread-safe (the worker adds tiles,
    the session finishes)."""

    def __init__(
        self,
        paths: dict[str, Path],
        plan: Callable[[], PlanRecord],
        sources: TileSources,
        settings: MosaicSettings,
        spool_dir: Path,
        progress: ProgressFn,
        mosaic_pixel_size_um: float | None = None,
    ) -> None:
        """``paths``: one file per mosaic kind (``KINDS``); ``plan``: the scan's plan (read
        at the first tile); ``sources``: read back the tiles never added."""
        if set(paths) != set(KINDS):
            raise ValueError(f"mosaic paths must name {', '.join(KINDS)}")
        self.paths, self.plan, self.sources = paths, plan, sources
        self.settings, self.spool_dir, self.progress = settings, spool_dir, progress
        self.mosaic_pixel_size_um = mosaic_pixel_size_um  # the networks' pixel size
        self._registration: StreamingRegistration | None = None
        self._mosaics: AnalysisMosaics | None = None
        #: why the mosaics were left to the end of the analysis (None: rendered during it)
        self.deferred: str | None = None
        self._failed: set[int] = set()
        self._lock = threading.RLock()

    @property
    def live(self) -> AnalysisMosaics | None:
        """The mosaics being drawn (None before the first tile or once left to the end)."""
        return self._mosaics

    def add(self, res: TileResult) -> None:
        """The tile registered, then drawn in."""
        self.register(res)
        self.draw(res)

    def register(self, res: TileResult) -> None:
        """The tile's gray image into the streaming registration."""
        assert res.gray is not None
        self._register(res.index, res.gray, (res.x_mm, res.y_mm))

    def draw(self, res: TileResult) -> None:
        """The tile into the mosaics. A failure here does not fail the tile: the streams are
        dropped and ``finish`` builds the mosaics in one go from the files."""
        assert res.gray is not None
        with self._lock:
            if self.deferred is not None:
                return
            try:
                m = self._mosaics_for(res.shape, res.pixel_size_um, res.stained is not None)
                counted = {c.label: c.cell_class for c in res.counted}
                m.add(res.index, res.gray, res.stained, res.labels, counted)
            except Exception as err:  # noqa: BLE001 - the tile's own files are written
                self.deferred = f"{type(err).__name__}: {err}"
                if self._mosaics is not None:
                    self._mosaics.abort()
                self._mosaics = None

    def tile_failed(self, index: int) -> None:
        """A tile whose analysis failed: the mosaic bands under it stop waiting for it."""
        with self._lock:
            self._failed.add(index)
            if self._mosaics is not None:
                self._mosaics.mark_absent([index])

    def abort(self) -> None:
        """Drop mosaics left unfinished (an analysis that ended early)."""
        with self._lock:
            if self._mosaics is not None and not self._mosaics.closed:
                self._mosaics.abort()

    def _register(self, index: int, gray: np.ndarray, position_mm: tuple[float, float]) -> None:
        with self._lock:
            if self._registration is None:
                plan = self.plan()
                planned = plan.centres_mm()
                planned.setdefault(index, position_mm)
                self._registration = StreamingRegistration(
                    planned,
                    gray.shape[:2],
                    plan.pixel_size_um,
                    self.settings,
                    spool=ChunkSpool(SPOOL_BUDGET_BYTES, self.spool_dir),
                )
            self._registration.add(index, gray, position_mm)

    def _mosaics_for(self, shape: tuple[int, int], px: float, stained: bool) -> AnalysisMosaics:
        """The mosaics, made at the first tile; the frame is the plan's."""
        if self._mosaics is None:
            assert self._registration is not None
            planned = stage_origins(self.plan().centres_mm(), shape, px)
            planned.update({k: v for k, v in self._registration.stage.items() if k not in planned})
            self._mosaics = AnalysisMosaics(
                dict(self.paths),
                planned,
                shape,
                px,
                self.sources,
                self.settings,
                stained=stained,
                mosaic_pixel_size_um=self.mosaic_pixel_size_um,
                registration=self._registration,
                progress=self.progress,
            )
            self._mosaics.mark_absent(self._failed)
        return self._mosaics

    def finish(
        self, results: Sequence[TileResult], stained: Callable[[int], bool]
    ) -> tuple[MosaicGeometry | None, dict[str, Any]]:
        """Write the last bands (tiles never added are read back); the mosaic section of
        ``differential.json``. ``stained(index)``: whether that tile's stained file exists."""
        ok = [r for r in results if not r.failed]
        if not ok:
            if self._mosaics is not None:
                self._mosaics.abort()
            return None, {"tiles": 0}
        shape, px = ok[0].shape, ok[0].pixel_size_um
        keep = {r.index for r in ok}
        counted = {r.index: {c.label: c.cell_class for c in r.counted} for r in ok}
        with self._lock:
            first = min(keep)
            if self._registration is None:
                r0 = next(r for r in ok if r.index == first)
                gray = self.sources.gray(first)
                assert gray is not None  # the scan's own tile: read back or refused
                self._register(first, gray, (r0.x_mm, r0.y_mm))
            assert self._registration is not None
            m = self._mosaics_for(shape, px, any(stained(r.index) for r in ok))
            m.mark_absent(set(m.planned) - keep)
            g = m.finish(counted)
            origins = {k: v for k, v in m.placed.items() if k in keep}
            pairs = sorted(self._registration.measures, key=lambda p: (p.i, p.j))
            if not self._registration.settings.refine_positions:
                pairs = []
        info = {
            "tiles": len(ok),
            "pixel_size_um": g.mosaic_pixel_size_um,
            "scale": g.scale,
            "origin_px": g.origin_px,
            "centre_mm": list(g.centre_mm()),
            "placement": "registered, fixed band by band during the analysis",
            "deferred_to_the_end": self.deferred,
            "bands_after_last_tile": m.bands_at_finish,
            "pairs": [asdict(p) for p in pairs],
            "pairs_accepted": sum(p.accepted for p in pairs),
            "positions_px": {str(k): [float(v[0]), float(v[1])] for k, v in origins.items()},
        }
        outside = sorted({k for st in m.streams.values() for k in st.outside} & keep)
        if outside:
            info["placed_beyond_margin"] = outside
        return g, info
