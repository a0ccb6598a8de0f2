"""A tile's journal line: the focus verdict as typed fields, the camera's own frame metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.acquisition.test_engine import small_scan
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.tiles import FocusVerdict, Tile, TileSpec, without_verdict
from uvscope.drivers.base import FrameMeta
from uvscope.io.scanfolder import ScanFolder


def _tile() -> Tile:
    img = np.ones((2, 2), np.float32)
    return Tile(TileSpec(3, 1, 2, 4.0, 5.0), 4.0, 5.0, 6.0, 0.5, {}, {260: img}, {260: 50.0}, 1.0)


def test_the_focus_verdict_round_trips_through_the_record_under_its_saved_names():
    tile = _tile()
    tile.focus = FocusVerdict(score=0.3, ratio=0.42, out_of_focus=True, check="sparse")
    tile.focus.probe = [[-1.0, 0.1], [0.0, 0.2]]  # a list: kept on the tile, not saved
    tile.extra.update(clear_level=0.98, background_age_s=12.5)
    rec = tile.to_record()
    assert rec.extra == {
        "focus_score": 0.3,
        "focus_ratio": 0.42,
        "out_of_focus": True,
        "focus_check": "sparse",
        "clear_level": 0.98,
        "background_age_s": 12.5,
    }
    back = FocusVerdict.from_extra(rec.extra)
    assert back.out_of_focus is True and back.check == "sparse" and back.ratio == 0.42
    assert back.probe is None
    assert without_verdict(rec.extra) == {"clear_level": 0.98, "background_age_s": 12.5}
    assert (rec.index, rec.row, rec.col, rec.exposure_ms) == (3, 1, 2, {"260": 50.0})


def test_an_unchecked_tile_has_no_verdict_in_its_record():
    rec = _tile().to_record()
    assert rec.extra is None and FocusVerdict.from_extra(rec.extra).out_of_focus is None


def test_the_record_keeps_the_camera_s_frame_index_timestamp_and_exposure(flat_rig, tmp_path: Path):
    metas: list[FrameMeta] = []
    cam = flat_rig.camera
    read = cam.read

    def spy(*args, **kwargs):
        frame = read(*args, **kwargs)
        metas.append(frame.meta)
        return frame

    cam.read = spy
    engine = ScanEngine(flat_rig, small_scan(rows=1, columns=3, nms=(260, 280)), tmp_path / "s")
    engine.run()
    recs = ScanFolder.open(tmp_path / "s").tile_records()
    by_index = {m.frame_index: m for m in metas}
    seen = []
    for rec in (recs[i] for i in sorted(recs)):
        pair = [rec.extra["frame_index"][nm] for nm in ("260", "280")]
        assert abs(pair[0] - pair[1]) == 1  # a tile's two frames are consecutive
        for nm, index in zip(("260", "280"), pair, strict=True):
            meta = by_index[index]  # the camera's own count
            assert rec.extra["frame_time_s"][nm] == meta.timestamp_s
            assert rec.exposure_ms[nm] == meta.exposure_ms
        seen += pair
    assert len(set(seen)) == 6 and len(recs) == 3
