"""The writer sink: every tile to disk, in order, never dropped.

Runs in its own thread behind a small bounded queue (two tiles), so acquisition overlaps
file writing while at most the tiles in flight are lost if the process is killed. A tile on
disk is handed on (``on_saved``: the analysis), so nothing is ever made of a tile not saved.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from uvscope.acquisition.tiles import Tile
from uvscope.allocator import release_free_memory
from uvscope.errors import StorageError
from uvscope.io.ome import ImageMeta
from uvscope.io.scanfolder import ScanFolder

_STOP = object()


class TileWriter:
    lossless = True

    def __init__(self, folder: ScanFolder, save_raw: bool = True, depth: int = 2) -> None:
        self.folder = folder
        self.save_raw = save_raw
        self._q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self.written = 0
        #: called in the writer's thread with each tile once it is on disk (the lossless
        #: sinks behind the writer); a tile that could not be written is never passed on
        self.on_saved: Callable[[Tile], None] | None = None
        self._thread = threading.Thread(target=self._run, name="uvscope-writer", daemon=True)
        self._thread.start()

    def put(self, tile: Tile) -> None:
        self._raise_if_failed()
        self._q.put(tile)

    def close(self) -> None:
        self._q.put(_STOP)
        self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            err = self._error
            if isinstance(err, StorageError):
                raise err
            raise StorageError(f"writing tiles failed: {err}") from err

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain: the engine is told at its next put
            try:
                self._write(item)  # type: ignore[arg-type]
            except BaseException as err:  # noqa: BLE001 - reported to the engine thread
                self._error = err
                continue
            if self.on_saved is not None:
                self.on_saved(item)  # type: ignore[arg-type]
            release_free_memory()  # the written tile's arrays back to the system

    def _write(self, tile: Tile) -> None:
        for nm, norm in tile.normalised.items():
            meta = ImageMeta(
                tile.pixel_size_um,
                nm,
                tile.exposure_ms.get(nm),
                tile.x_mm,
                tile.y_mm,
                tile.z_um,
                f"tile {tile.index} {nm} nm",
            )
            raw = tile.raw.get(nm) if self.save_raw else None
            self.folder.write_tile_images(tile.index, nm, raw, norm, meta)
        self.folder.append_tile(tile.to_record())
        self.written += 1


class LatestTile:
    """A lossy sink for displays: keeps only the newest tile; ``put`` never waits."""

    lossless = False

    def __init__(self) -> None:
        self._tile: Tile | None = None
        self._lock = threading.Lock()
        self.received = 0

    def put(self, tile: Tile) -> None:
        with self._lock:
            self._tile = tile
            self.received += 1

    def take(self) -> Tile | None:
        with self._lock:
            t, self._tile = self._tile, None
            return t

    def close(self) -> None:
        pass
