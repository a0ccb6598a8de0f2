"""The analysis beside the scan: a lossless TileSink with a bounded queue and a worker thread.

``put`` blocks while the queue is full, so a slow analysis slows the scan instead of losing
tiles (backpressure). The worker gathers up to ``tile_batch`` waiting tiles per batch, so it
catches up in larger batches when it falls behind. An exception on a batch is retried tile by
tile; a tile that still fails is reported through ``error``, recorded as failed, and the worker
goes on. Events are psygnal signals, emitted from the worker thread (the GUI relays them).
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence

from psygnal import Signal

from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.allocator import release_free_memory
from uvscope.analysis.dedup import CoreRegions
from uvscope.analysis.differential import Differential, DifferentialCounter
from uvscope.analysis.models import ModelSet
from uvscope.analysis.pipeline import TilePipeline, TileResult
from uvscope.analysis.settings import AnalysisSettings
from uvscope.analysis.smear import SmearAnalyser
from uvscope.errors import AnalysisError

_STOP = object()


class AnalysisWorker:
    """Analyses tiles as they are put; ``results`` and ``differential()`` hold what it found."""

    tile_analysed = Signal(object)  # TileResult
    differential_changed = Signal(object)  # Differential
    error = Signal(int, str)  # tile index, message

    lossless = True

    def __init__(
        self,
        models: ModelSet,
        settings: AnalysisSettings | None = None,
        plan: Sequence[TileSpec] | None = None,
        on_result: Callable[[TileResult], None] | None = None,
        keep_images: bool = False,
        smear: SmearAnalyser | None = None,
    ) -> None:
        """``plan`` (all planned tiles) enables counting each cell once across overlaps.

        ``on_result`` runs on the worker thread for every result (the writer of per-tile
        outputs); images are dropped from stored results afterwards unless ``keep_images``.
        """
        self.settings = settings or AnalysisSettings()
        self.plan = list(plan) if plan else None
        self.pipeline = TilePipeline(models, self.settings, smear=smear)
        c = self.settings.counting
        self.counter = DifferentialCounter(
            c.confidence, c.stop_after_wbc, rules=self.settings.differential
        )
        self.results: dict[int, TileResult] = {}
        self.failed: dict[int, str] = {}
        self.on_result = on_result
        self.keep_images = keep_images
        self.last_tile_done_at: float | None = None
        self.listener_errors: list[str] = []
        self._queue: queue.Queue[object] = queue.Queue(maxsize=self.settings.queue_size)
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="uvscope-analysis", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- TileSink
    def put(self, tile: Tile) -> None:
        """Queue a tile; blocks while ``queue_size`` tiles are waiting (backpressure)."""
        if self._closed:
            raise AnalysisError("the analysis worker is closed; start a new one for a new scan")
        if not self._thread.is_alive():
            raise AnalysisError("the analysis worker thread has stopped; see the errors reported")
        self._queue.put(tile)

    def close(self) -> None:
        """Analyse everything queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    def drain(self) -> None:
        """Wait until every tile put so far has been analysed (the worker keeps running)."""
        self._queue.join()

    # ------------------------------------------------------------- state
    def should_stop(self) -> bool:
        """The stop rule (``counting.stop_after_wbc``); the engine polls this between tiles."""
        with self._lock:
            return self.counter.should_stop()

    def differential(self) -> Differential:
        with self._lock:
            return self.counter.snapshot()

    def sorted_results(self) -> list[TileResult]:
        with self._lock:
            return [self.results[k] for k in sorted(self.results)]

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # ------------------------------------------------------------- thread
    def _cores_for(self, tile: Tile) -> CoreRegions | None:
        if self.plan is None:
            return None
        if self.pipeline.cores is None:
            self.pipeline.cores = CoreRegions(
                self.plan,
                tile.shape,
                tile.pixel_size_um,
                self.settings.counting.keep_outer_border_cells,
            )
        return self.pipeline.cores

    def _run(self) -> None:
        batch_max = self.settings.inference.tile_batch
        stop = False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                self._queue.task_done()
                return
            batch: list[Tile] = [item]  # type: ignore[list-item]
            while len(batch) < batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    self._queue.task_done()
                    break
                batch.append(nxt)  # type: ignore[arg-type]
            try:
                self._process(batch)
            finally:
                release_free_memory()  # this tile's freed arrays back to the system
                for _ in batch:
                    self._queue.task_done()

    def _process(self, batch: list[Tile]) -> None:
        self._cores_for(batch[0])
        try:
            results = self.pipeline.analyse(batch)
        except Exception:  # noqa: BLE001 - retried tile by tile to isolate the bad one
            results = []
            for tile in batch:
                try:
                    results.extend(self.pipeline.analyse([tile]))
                except Exception as err:  # noqa: BLE001 - reported, recorded, worker goes on
                    results.append(self._failed(tile, err))
        for res in results:
            self._record(res)

    def _failed(self, tile: Tile, err: BaseException) -> TileResult:
        msg = f"{type(err).__name__}: {err}"
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        return TileResult(
            index=tile.index,
            spec=tile.spec,
            x_mm=tile.x_mm,
            y_mm=tile.y_mm,
            shape=tile.shape,
            pixel_size_um=tile.pixel_size_um,
            failed=True,
            error=detail or msg,
        )

    def _record(self, res: TileResult) -> None:
        if not res.failed and self.on_result is not None:
            try:
                self.on_result(res)
            except Exception as err:  # noqa: BLE001 - a write failure fails the tile, not the run
                res.failed, res.error = True, f"writing results failed: {err}"
        with self._lock:
            if res.failed:
                self.failed[res.index] = res.error or "failed"
                self.counter.tiles_failed += 1
            else:
                self.counter.tiles_analysed += 1
                self.counter.tiles_out_of_focus += res.out_of_focus
                self.counter.cells_out_of_focus += res.cells_out_of_focus
                for cell in res.counted:
                    self.counter.add(cell.cell_class, cell.dead)
                self.counter.tile_done()
            self.results[res.index] = res
            diff = self.counter.snapshot()
            self.last_tile_done_at = time.perf_counter()
        try:
            if res.failed:
                self.error.emit(res.index, res.error or "failed")
            else:
                self.tile_analysed.emit(res)
            self.differential_changed.emit(diff)
        except Exception as err:  # noqa: BLE001 - a broken listener must not stop the analysis
            self.listener_errors.append(f"{type(err).__name__}: {err}")
        if not self.keep_images:  # listeners have had the images; the writer has saved them
            res.labels = res.nuclei = res.stained = res.gray = None
            if res.smear is not None:  # the writer has its rows and running figures
                res.smear.rbcs, res.smear.platelets, res.smear.gallery = [], [], []
