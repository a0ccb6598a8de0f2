"""Focus maps: the fit, point choice, and scans that stay in focus on a tilted, bowed slide."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.acquisition._focus_world import TiltedWorld, small_rig, small_scan
from uvscope.acquisition.autofocus import DEPTH_OF_FIELD_UM
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.focus_control import FocusController
from uvscope.acquisition.focus_map import FocusMap, FocusPoint, choose_map_points
from uvscope.acquisition.tiles import TileSpec
from uvscope.errors import ConfigError


def _points(f, xy):
    return [FocusPoint(x, y, f(x, y), 1.0) for x, y in xy]


GRID = [(x, y) for x in (40.0, 42.0, 44.0) for y in (30.0, 31.0, 32.0)]


def test_plane_fit_recovers_a_tilted_slide_exactly():
    fmap = FocusMap.fit(_points(lambda x, y: 5000 + 1.5 * x - 0.8 * y, GRID), "plane")
    assert fmap.z_at(41.3, 30.7) == pytest.approx(5000 + 1.5 * 41.3 - 0.8 * 30.7)
    assert fmap.rms_residual_um < 1e-9


def test_quadratic_fit_follows_the_bow_a_plane_misses():
    def bowed(x, y):
        return 5000 + 1.5 * x + 0.5 * ((x - 42) ** 2 + (y - 31) ** 2)

    plane = FocusMap.fit(_points(bowed, GRID), "plane")
    quad = FocusMap.fit(_points(bowed, GRID), "quadratic")
    assert plane.rms_residual_um > 0.3
    assert quad.rms_residual_um < 1e-9
    assert quad.z_at(43.5, 31.5) == pytest.approx(bowed(43.5, 31.5))


def test_too_few_points_fall_back_to_a_simpler_surface_and_upgrade_later():
    fmap = FocusMap.fit(_points(lambda x, y: 5000 + x, GRID[:2]), "quadratic")
    assert fmap.surface == "constant"
    for x, y in GRID[2:6]:
        fmap.add_point(FocusPoint(x, y, 5000 + x, 1.0))
    assert fmap.surface == "quadratic"
    with pytest.raises(ConfigError, match="at least one"):
        FocusMap.fit([], "plane")


def test_map_answers_are_clipped_to_the_focus_limits_and_survive_the_manifest():
    fmap = FocusMap.fit(_points(lambda x, y: 100 * x, GRID), "plane", limits_um=(0, 4400))
    assert fmap.z_at(50.0, 31.0) == 4400
    again = FocusMap.from_dict(json.loads(json.dumps(fmap.to_dict())), (0, 4400))
    assert again.z_at(41.0, 31.0) == pytest.approx(fmap.z_at(41.0, 31.0))


def test_map_points_spread_over_the_scan():
    tiles = [TileSpec(r * 10 + c, r, c, float(c), float(r)) for r in range(10) for c in range(10)]
    pts = choose_map_points(tiles, 5)
    got = {(p.x_mm, p.y_mm) for p in pts}
    assert {(0.0, 0.0), (9.0, 9.0), (9.0, 0.0), (0.0, 9.0)} < got  # the corners
    centre = (got - {(0.0, 0.0), (9.0, 9.0), (9.0, 0.0), (0.0, 9.0)}).pop()
    assert 4.0 <= centre[0] <= 5.0 and 4.0 <= centre[1] <= 5.0
    assert len(set(choose_map_points(tiles, 30))) == 30
    assert choose_map_points(tiles[:3], 5) == tiles[:3]
    strip = [TileSpec(c, 0, c, c * 0.1, 0.0) for c in range(50)]
    xs = sorted(p.x_mm for p in choose_map_points(strip, 7))
    assert len(set(xs)) == 7 and xs[0] == 0.0 and xs[-1] == pytest.approx(4.9)


def _records(out):
    return [json.loads(line) for line in (out / "tiles.jsonl").read_text().splitlines()]


def _focus_errors(out, world):
    return np.array(
        [abs(r["z_um"] - world.surface_z_um(r["x_mm"], r["y_mm"])) for r in _records(out)]
    )


def test_scan_with_a_map_stays_in_focus_where_a_fixed_focus_drifts_out(tmp_path):
    """A 1 x 40 tile strip 2.4 mm long across the tilted slide."""
    kw = dict(center=(44.0, 33.0), rows=1, columns=40)
    rig, world = small_rig()
    ScanEngine(rig, small_scan(**kw, mode="fixed", refocus_threshold=0.0), tmp_path / "fixed").run()
    fixed = _focus_errors(tmp_path / "fixed", world)
    rig, world = small_rig()
    eng = ScanEngine(
        rig, small_scan(**kw, mode="map", map_points=5, surface="quadratic"), tmp_path / "map"
    )
    eng.run()
    mapped = _focus_errors(tmp_path / "map", world)
    assert fixed.max() > 2 * DEPTH_OF_FIELD_UM  # drifted out of focus
    assert mapped.max() < 0.25 * DEPTH_OF_FIELD_UM
    recs = _records(tmp_path / "map")
    assert all("focus_score" in r["extra"] and r["extra"]["out_of_focus"] is False for r in recs)
    focus = json.loads((tmp_path / "map" / "manifest.json").read_text())["focus"]
    assert focus["mode"] == "map" and len(focus["map"]["points"]) == 5
    assert focus["map"]["rms_residual_um"] < 0.2
    # sharper where in focus: the map's tiles score higher than the fixed scan's far ends
    fixed_recs = _records(tmp_path / "fixed")
    far = [r["extra"]["focus_score"] for r, e in zip(fixed_recs, fixed, strict=True) if e > 2.5]
    assert far and max(far) < 0.75 * np.median([r["extra"]["focus_score"] for r in recs])


def test_autofocus_once_focuses_the_region_centre(tmp_path):
    rig, world = small_rig()
    rig.focus.move_to_um(world.surface_z_um(44.0, 33.0) + 9.0)
    eng = ScanEngine(
        rig,
        small_scan(center=(44.0, 33.0), rows=1, columns=3, mode="autofocus-once"),
        tmp_path / "s",
    )
    eng.run()
    errs = _focus_errors(tmp_path / "s", world)
    assert errs.max() < 0.5 * DEPTH_OF_FIELD_UM


class BumpedWorld(TiltedWorld):
    """A slide with a step the focus map cannot know about (a crease or debris)."""

    def __init__(self, *args, step_um: float = 4.0, **kw):
        super().__init__(*args, **kw)
        self.step_um = step_um

    def surface_z_um(self, x_mm, y_mm):
        step = self.step_um if 44.05 < x_mm < 44.2 else 0.0
        return super().surface_z_um(x_mm, y_mm) + step


def _events(out):
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


def _focus_manifest(out):
    return json.loads((out / "manifest.json").read_text())["focus"]


def _map_scan(tmp_path, world, columns=9, map_points=3):
    rig, _ = small_rig(world)
    eng = ScanEngine(
        rig,
        small_scan(center=(44.0, 33.0), rows=1, columns=columns, mode="map", map_points=map_points),
        tmp_path / "s",
    )
    eng.run()
    return eng, _records(tmp_path / "s"), _focus_manifest(tmp_path / "s")


def test_a_soft_tile_is_refocused_and_retaken(tmp_path):
    world = BumpedWorld(128, 96, 0.5)
    eng, recs, focus = _map_scan(tmp_path, world)
    bumped = [r for r in recs if 44.05 < r["x_mm"] < 44.2]
    assert bumped and bumped[0]["extra"].get("refocused")
    for r in recs:
        assert abs(r["z_um"] - world.surface_z_um(r["x_mm"], r["y_mm"])) < DEPTH_OF_FIELD_UM / 2
    assert "refocus" in [e["kind"] for e in _events(tmp_path / "s")]
    # the correction found at the first soft tile carries to its neighbour on the bump
    assert 1 <= len(focus["corrections"]) <= len(recs) - 3
    assert not any(r["extra"]["out_of_focus"] for r in recs)


def test_a_map_error_over_one_depth_of_field_is_still_caught(tmp_path):
    world = BumpedWorld(128, 96, 0.5, step_um=1.5 * DEPTH_OF_FIELD_UM)
    eng, recs, focus = _map_scan(tmp_path, world)
    bumped = [r for r in recs if 44.05 < r["x_mm"] < 44.2]
    assert bumped and bumped[0]["extra"].get("refocused")
    for r in recs:
        assert abs(r["z_um"] - world.surface_z_um(r["x_mm"], r["y_mm"])) < DEPTH_OF_FIELD_UM / 2
    assert focus["refocused_tiles"] <= len(bumped) + 1  # swept only where it was needed


def test_fixed_focus_on_a_tilted_strip_keeps_every_tile_in_focus_or_flagged(tmp_path):
    """Fixed focus (not the default) still checks every tile against its local best focus."""
    kw = dict(center=(44.0, 33.0), rows=1, columns=30)
    rig, world = small_rig()
    warnings = []
    eng = ScanEngine(rig, small_scan(**kw, mode="fixed"), tmp_path / "s")
    eng.events.log.connect(warnings.append)
    eng.run()
    errs = _focus_errors(tmp_path / "s", world)
    recs = _records(tmp_path / "s")
    span = [world.surface_z_um(r["x_mm"], r["y_mm"]) for r in recs]
    assert max(span) - min(span) > DEPTH_OF_FIELD_UM  # one z cannot hold the whole strip
    focus = _focus_manifest(tmp_path / "s")
    assert focus["mode"] == "fixed" and focus["reference_ratio"] and focus["probed_tiles"] > 0
    for r, e in zip(recs, errs, strict=True):
        assert e <= DEPTH_OF_FIELD_UM / 2 or r["extra"]["out_of_focus"], (r["index"], e)


def test_tiles_within_the_depth_of_field_are_never_swept(tmp_path):
    world = BumpedWorld(128, 96, 0.5, step_um=0.3 * DEPTH_OF_FIELD_UM)
    eng, recs, focus = _map_scan(tmp_path, world)
    assert focus["refocused_tiles"] == 0
    assert eng.focus_ctl.autofocus.frames == 3 * 21  # the map points' sweeps only
    assert not any(r["extra"]["out_of_focus"] for r in recs)


def test_sparse_sharp_tiles_are_not_swept_though_their_variance_is_low(tmp_path):
    world = TiltedWorld(128, 96, 0.5, sparse_below_x_mm=44.0)  # left half: few cells
    eng, recs, focus = _map_scan(tmp_path, world, columns=12, map_points=5)
    sparse = [r for r in recs if r["x_mm"] + 0.032 < 44.0]
    full = [r for r in recs if r["x_mm"] - 0.032 > 44.0]
    assert sparse and full
    # the content-dependent score would have sent every sparse tile to a sweep
    median_full = np.median([r["extra"]["focus_score"] for r in full])
    assert max(r["extra"]["focus_score"] for r in sparse) < 0.7 * median_full
    assert focus["refocused_tiles"] == 0
    assert not any(r["extra"]["out_of_focus"] for r in recs)
    ratios = [r["extra"]["focus_ratio"] for r in recs]
    assert min(ratios) > 0.75 and max(ratios) < 1.3


def test_a_doubtful_tile_in_focus_is_cleared_by_the_probe_without_a_sweep(tmp_path, monkeypatch):
    # a reference no tile reaches: every tile is in doubt, and every one is in focus
    monkeypatch.setattr(FocusController, "_reference_ratio", staticmethod(lambda res: 10.0))
    eng, recs, focus = _map_scan(tmp_path, TiltedWorld(128, 96, 0.5), columns=5)
    assert focus["probed_tiles"] == 5 and focus["refocused_tiles"] == 0
    assert all(r["extra"]["focus_check"] == "probe" for r in recs)
    assert all(abs(r["extra"]["probe_offset_um"]) <= DEPTH_OF_FIELD_UM / 2 for r in recs)
    assert eng.focus_ctl.autofocus.frames == 3 * 21


def test_a_soft_tile_too_sparse_to_sweep_on_is_flagged_without_a_sweep(tmp_path, monkeypatch):
    import uvscope.acquisition.focus_control as fc

    monkeypatch.setattr(fc, "SPARSE_SNR", 1e9)  # every field counts as sparse
    monkeypatch.setattr(
        FocusController,
        "_reference_ratio",
        staticmethod(lambda res: float(np.median([r.sharpness.ratio for r in res]))),
    )
    world = BumpedWorld(128, 96, 0.5)
    eng, recs, focus = _map_scan(tmp_path, world)
    bumped = [r for r in recs if 44.05 < r["x_mm"] < 44.2]
    assert bumped and all(r["extra"]["out_of_focus"] for r in bumped)
    assert all(r["extra"]["focus_check"] == "sparse" for r in bumped)
    assert focus["refocused_tiles"] == 0 and focus["out_of_focus_tiles"] == len(bumped)
    assert not any(r["extra"]["out_of_focus"] for r in recs if r not in bumped)


def test_blank_tiles_are_never_swept_nor_counted_as_out_of_focus(tmp_path):
    world = TiltedWorld(128, 96, 0.5, empty_below_x_mm=43.95)  # left part of the strip is bare
    eng, recs, focus = _map_scan(tmp_path, world, columns=8)
    bare = [r for r in recs if r["x_mm"] + 0.032 < 43.95]
    full = [r for r in recs if r["x_mm"] - 0.032 > 43.95]
    assert bare and all(r["extra"]["focus_check"] == "blank" for r in bare)
    assert full and not any(r["extra"]["out_of_focus"] for r in recs)
    assert focus["refocused_tiles"] == 0 and focus["probed_tiles"] == 0
    assert focus["out_of_focus_tiles"] == 0


def test_resume_reuses_the_saved_map_without_new_sweeps(tmp_path):
    from uvscope.errors import ScanError
    from uvscope.sim.faults import FaultInjector

    faults = FaultInjector()
    rig, world = small_rig(faults=faults)
    scan = small_scan(center=(44.0, 33.0), rows=1, columns=6, mode="map", map_points=3)

    class StallAfterTwoTiles:
        """Once two tiles are in, the stage stalls for good."""

        lossless = False  # fed by the engine as each tile is taken (lossless sinks get it
        # later, from the writer, once it is on disk)
        seen = 0

        def put(self, tile):
            self.seen += 1
            if self.seen == 2:
                faults.add("stage", "move", "stall", count=None)

        def close(self):
            pass

    with pytest.raises(ScanError):
        ScanEngine(rig, scan, tmp_path / "s", sinks=[StallAfterTwoTiles()]).run()
    assert 0 < len(_records(tmp_path / "s")) < 6
    saved = json.loads((tmp_path / "s" / "manifest.json").read_text())["focus"]["map"]
    faults.rules.clear()
    frames = rig.camera.frames
    eng = ScanEngine(rig, scan, tmp_path / "s", resume=True)
    eng.run()
    assert eng.focus_ctl is not None and eng.focus_ctl.autofocus.frames == 0
    assert eng.focus_ctl.source.to_dict()["coefficients"] == saved["coefficients"]
    assert rig.camera.frames - frames < 6 * 2  # tiles only, no sweeps
    assert len(_records(tmp_path / "s")) == 6
