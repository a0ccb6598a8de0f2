"""The stage-mosaic sink: a failed drawing costs nothing but time, an aborted one writes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.analysis.scanfolder_fixture import write_scan_folder
from tests.analysis.test_mosaics_during_scan import _assert_same_file_pixels, _scan
from uvscope.io.stage_sink import StageMosaicSink


def _sink(tmp_path: Path, name: str, rows: int = 4, cols: int = 3):
    specs, tiles = _scan(tmp_path, rows, cols)
    folder = write_scan_folder(tmp_path / name, specs, tiles)
    return folder, StageMosaicSink(folder), tiles


def test_a_tile_that_cannot_be_drawn_leaves_the_mosaic_to_the_end(tmp_path: Path) -> None:
    ref_folder, ref, tiles = _sink(tmp_path, "ref")
    for t in tiles:
        ref.put(t)
    ref.close()
    folder, sink, tiles = _sink(tmp_path, "odd")
    sink.put(tiles[0])
    assert sink.live is not None

    def hiccup(*args: object) -> None:
        raise OSError("disk hiccup")

    sink.live.push = hiccup  # type: ignore[method-assign]
    for t in tiles[1:]:
        sink.put(t)  # the drawing is dropped at the first failure, the scan goes on
    assert sink.live is None
    sink.close()  # built in one go from the saved files: the same pixels
    _assert_same_file_pixels(folder.mosaic_path(260), ref_folder.mosaic_path(260))
    events = [e for e in folder.read_events() if e["kind"] == "stage-mosaic"]
    assert len(events) == 1 and "disk hiccup" in events[0]["message"]


def test_an_aborted_sink_writes_no_mosaic(tmp_path: Path) -> None:
    folder, sink, tiles = _sink(tmp_path, "scan", rows=2, cols=2)
    for t in tiles:
        sink.put(t)
    assert sink.live is not None
    sink.abort()
    sink.close()
    assert not folder.mosaic_path(260).exists()
    assert folder.read_manifest()["status"] != "writing-mosaic"
