"""Where a scan's tiles go: the writer (its failure fails the scan) and the other sinks.

The writer is lossless and must succeed: a tile it cannot write is a scan that cannot go on.
Another sink (the analysis, a display) that fails costs its own result, not the scan: the
failure is logged and kept, every tile is saved, and `uvscope analyze DIR` can finish it.
A folder product (``tiles.FolderProduct``: the stage mosaics) is one of these sinks with a
firmer end: opened on the folder at the first tile, ended after all the others, its file
written only for a scan that was not cut short, a failure to write it failing the scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from uvscope.acquisition.tiles import FolderProduct, StopRule, Tile, TileSink
from uvscope.acquisition.writer import TileWriter
from uvscope.io.scanfolder import ScanFolder

Log = Callable[..., None]


class SinkSet:
    """The writer and the other sinks of a scan; ``unclosed`` is what an early end closes."""

    def __init__(
        self,
        writer: TileWriter,
        others: Sequence[TileSink],
        out_dir: Path,
        log: Log,
        errors: list[str],
    ) -> None:
        self.writer = writer
        #: the folder's own products (the stage mosaics), ended after every other sink
        self.products = [s for s in others if isinstance(s, FolderProduct)]
        self.others = [s for s in others if s not in self.products]
        self.out_dir, self.log = out_dir, log
        #: what the non-writer sinks lost (the scan is still complete)
        self.errors = errors
        #: sinks still to close if the scan ends here (the writer first: it feeds the rest)
        self.unclosed: list[TileSink] = [writer, *self.others]
        self._unended: list[FolderProduct] = list(self.products)
        self._lossless = [
            *(s for s in self.others if getattr(s, "lossless", True)),
            *self.products,
        ]
        self._lossy = [s for s in self.others if s not in self._lossless]
        self._stop_rules = [s for s in (writer, *self.others) if isinstance(s, StopRule)]
        writer.on_saved = self._saved

    def open(self, folder: ScanFolder) -> None:
        """The scan's folder now exists: the products write into it."""
        for product in self.products:
            product.open(folder)

    def put(self, tile: Tile) -> None:
        """The tile to the writer and the lossy sinks (displays); the lossless ones (the
        analysis) get it from the writer's thread once it is on disk, so no result is ever
        made of a tile the scan did not save, and the engine never waits for a write (their
        backpressure reaches it through the writer's bounded queue)."""
        self.writer.put(tile)
        for sink in self._lossy:
            self._put_or_log(sink, tile)

    def _saved(self, tile: Tile) -> None:
        for sink in self._lossless:
            self._put_or_log(sink, tile)

    def should_stop(self) -> bool:
        """A sink's stop rule is met (e.g. enough white cells counted)."""
        return any(rule.should_stop() for rule in self._stop_rules)

    def close_writer(self) -> None:
        """Every acquired tile on disk; raises if the writer failed."""
        self._close([self.writer], leave=False)
        self.unclosed = list(self.others)

    def close_others(self, leave: bool) -> None:
        """Wait for the analysis (it may take a while) unless ``leave``: then it is left for
        `uvscope analyze` or ``--resume`` to finish."""
        self._close(self.others, leave)
        self.unclosed = []

    def end_products(self, write: bool) -> None:
        """After every other sink: the products write their files (``write``; an error is
        raised, the scan fails) or drop them (a scan cut short; ``--resume`` makes them)."""
        products, self._unended = self._unended, []
        for i, product in enumerate(products):
            if not write:
                product.abort()
                continue
            try:
                product.close()
            except BaseException:
                self._unended = products[i + 1 :]  # dropped by ``close_unclosed``
                raise

    def close_unclosed(self, leave: bool) -> None:
        """The scan ended early (an error, an abort): the products dropped, then what is
        still open closed."""
        self.end_products(write=False)
        self._close(self.unclosed, leave)

    def _put_or_log(self, sink: TileSink, tile: Tile) -> None:
        try:
            sink.put(tile)
        except Exception as err:  # noqa: BLE001 - recorded in events.jsonl, scan goes on
            self.log(
                "sink-error",
                f"{type(sink).__name__} failed on tile {tile.index}: "
                f"{err!r}; the tile is saved, the scan goes on",
                tile=tile.index,
            )

    def _close(self, sinks: list[TileSink], leave: bool) -> None:
        """Close every sink, then raise the writer's error if it had one."""
        first: BaseException | None = None
        for sink in sinks:
            if leave and not isinstance(sink, TileWriter):
                self._note(
                    "sink-left",
                    f"{type(sink).__name__} left unfinished at the user's request; run "
                    f"`uvscope analyze {self.out_dir}` (or --resume) to finish it",
                )
                continue
            try:
                sink.close()
            except BaseException as err:  # noqa: BLE001 - close all, then decide
                if isinstance(sink, TileWriter):
                    first = first or err
                else:
                    self._note(
                        "sink-error",
                        f"{type(sink).__name__} failed at the end of the scan: {err}; "
                        f"the tiles are saved: run `uvscope analyze {self.out_dir}`",
                    )
        if first is not None:
            raise first

    def _note(self, kind: str, text: str) -> None:
        self.errors.append(text)
        self.log(kind, text)
