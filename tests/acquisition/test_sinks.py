"""``SinkSet``'s contract for a folder product (the stage mosaics): opened on the folder, ended
after every other sink, written only for a scan that ran to its end, never left unfinished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from uvscope.acquisition.sinks import SinkSet
from uvscope.acquisition.tiles import FolderProduct
from uvscope.acquisition.writer import TileWriter
from uvscope.io.scanfolder import ScanFolder


class Analysis:
    lossless = True

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def put(self, tile: object) -> None:
        pass

    def close(self) -> None:
        self.log.append("analysis closed")


class Product(Analysis):
    def __init__(self, log: list[str], name: str = "mosaic", fails: bool = False) -> None:
        super().__init__(log)
        self.name, self.fails = name, fails
        self.folder: ScanFolder | None = None

    def open(self, folder: ScanFolder) -> None:
        self.folder = folder

    def close(self) -> None:
        if self.fails:
            raise OSError(28, "No space left on device")
        self.log.append(f"{self.name} written")

    def abort(self) -> None:
        self.log.append(f"{self.name} dropped")


def _set(tmp_path: Path, sinks: list[Any]) -> tuple[SinkSet, ScanFolder]:
    folder = ScanFolder.create(tmp_path / "s", {"status": "running"})
    writer = TileWriter(folder)
    notes: list[str] = []
    out = SinkSet(writer, sinks, folder.root, lambda *a, **k: None, notes)
    out.open(folder)
    return out, folder


def test_a_product_listed_first_is_written_after_the_analysis(tmp_path: Path) -> None:
    log: list[str] = []
    product, analysis = Product(log), Analysis(log)
    assert isinstance(product, FolderProduct) and not isinstance(analysis, FolderProduct)
    sinks, folder = _set(tmp_path, [product, analysis])
    assert product.folder is folder
    sinks.close_writer()
    sinks.close_others(leave=True)  # the operator leaves the analysis: the mosaic is not left
    sinks.end_products(write=True)
    assert log == ["mosaic written"]
    assert len(sinks.errors) == 1 and sinks.errors[0].startswith("Analysis left unfinished")
    sinks.close_unclosed(leave=False)  # nothing twice
    assert log == ["mosaic written"]


def test_an_interrupted_or_failed_scan_drops_the_products_first(tmp_path: Path) -> None:
    log: list[str] = []
    sinks, _ = _set(tmp_path, [Analysis(log), Product(log)])
    sinks.close_writer()
    sinks.close_others(leave=False)
    sinks.end_products(write=False)  # interrupted: --resume writes it
    assert log == ["analysis closed", "mosaic dropped"]

    log.clear()
    early, _ = _set(tmp_path / "early", [Analysis(log), Product(log)])
    early.close_unclosed(leave=False)  # a device error, an abort
    assert log == ["mosaic dropped", "analysis closed"]


def test_a_product_that_cannot_write_raises_and_the_rest_are_dropped(tmp_path: Path) -> None:
    log: list[str] = []
    sinks, _ = _set(tmp_path, [Product(log, "a", fails=True), Product(log, "b")])
    sinks.close_writer()
    sinks.close_others(leave=False)
    with pytest.raises(OSError, match="No space"):
        sinks.end_products(write=True)  # the engine fails the scan
    sinks.close_unclosed(leave=False)
    assert log == ["b dropped"]
