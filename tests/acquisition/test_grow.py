"""Count N WBCs: the ring planner, the growing plan source, and target-count scans on the
simulated rig stopped by the simulator's own white cells (not by the planner's arithmetic)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from uvscope.acquisition import focus_control
from uvscope.acquisition.autofocus import DEPTH_OF_FIELD_UM
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.focus_map import FocusMap, FocusPoint
from uvscope.acquisition.grow import GrowingPlan, ring_offsets, ring_plan
from uvscope.acquisition.map_lattice import MapLattice
from uvscope.acquisition.tiles import TileSpec
from uvscope.analysis.dedup import CoreRegions
from uvscope.config import CameraConfig, RigConfig, ScanConfig, StageConfig, WavelengthConfig
from uvscope.errors import LimitError
from uvscope.io.scanfolder import ScanFolder

FOV = (0.2, 0.15)


def target_scan(wbc=5, start=(42.5, 32.5), area=1.0, **kw) -> ScanConfig:
    kw.setdefault("focus", {"mode": "fixed", "refocus_threshold": 0.0})
    return ScanConfig(
        target={"wbc": wbc, "start_mm": start, "max_area_mm2": area},
        analysis={"enabled": True},
        wavelengths=(WavelengthConfig(nm=260, exposure_ms=50.0),),
        save_raw=False,
        **kw,
    )


# ---------------------------------------------------------------------- the ring planner
def test_rings_go_outward_each_tile_next_to_the_one_before():
    rings = ring_plan(target_scan(area=2.0), FOV, StageConfig())
    tiles, ring_of = rings.grid.tiles, rings.rings
    assert [t.index for t in tiles] == list(range(len(tiles)))
    assert (tiles[0].x_mm, tiles[0].y_mm) == (42.5, 32.5)
    assert list(ring_of) == sorted(ring_of)  # never back inwards
    sx, sy = rings.grid.step_mm
    for a, b in zip(tiles, tiles[1:], strict=False):
        cols, rows = abs(a.col - b.col), abs(a.row - b.row)
        assert max(cols, rows) == 1  # a neighbour (diagonal only between rings)
        assert abs(a.x_mm - b.x_mm) == pytest.approx(cols * sx)
        assert abs(a.y_mm - b.y_mm) == pytest.approx(rows * sy)
    for r in range(1, 4):
        assert len(ring_offsets(r)) == 8 * r
        assert len(set(ring_offsets(r))) == 8 * r


def test_neighbours_overlap_by_the_scan_overlap():
    rings = ring_plan(target_scan(overlap_percent=20.0), FOV, StageConfig())
    assert rings.grid.step_mm == pytest.approx((FOV[0] * 0.8, FOV[1] * 0.8))
    assert min(t.row for t in rings.grid.tiles) == 0 and min(t.col for t in rings.grid.tiles) == 0


def test_area_cap_counts_the_new_area_each_tile_adds():
    scan = target_scan(area=1.0)
    rings = ring_plan(scan, FOV, StageConfig())
    step_area = rings.grid.step_mm[0] * rings.grid.step_mm[1]
    assert len(rings.grid.tiles) == math.floor(1.0 / step_area)
    assert len(rings.grid.tiles) * rings.tile_area_mm2 <= 1.0


def test_rings_stay_inside_the_soft_limits_and_the_smear():
    stage = StageConfig(x_limits_mm=(42.4, 60.0), y_limits_mm=(0.0, 75.0))
    rings = ring_plan(target_scan(area=1.0), FOV, stage)
    assert all(t.x_mm >= 42.4 for t in rings.grid.tiles)
    assert len(rings.grid.tiles) == math.floor(1.0 / rings.tile_area_mm2)  # grows elsewhere
    smear = (42.3, 32.3, 42.9, 32.8)
    small = ring_plan(target_scan(area=10.0), FOV, StageConfig(), smear_mm=smear)
    assert 0 < len(small.grid.tiles) < 30  # the smear is used up before the area
    for t in small.grid.tiles:
        assert smear[0] <= t.x_mm <= smear[2] and smear[1] <= t.y_mm <= smear[3]


def test_a_start_off_the_stage_is_refused_naming_the_field():
    with pytest.raises(LimitError, match=r"target\.start_mm .* soft limits"):
        ring_plan(target_scan(start=(200.0, 30.0)), FOV, StageConfig())
    with pytest.raises(LimitError, match=r"target\.start_mm .* smear"):
        ring_plan(target_scan(start=(10.0, 10.0)), FOV, StageConfig(), (30, 20, 55, 45))


def test_default_start_is_the_region_centre():
    scan = target_scan(start=None).replace(region={"corners_mm": [[40, 30], [41, 31]]})
    assert ring_plan(scan, FOV, StageConfig()).start_mm == (40.5, 30.5)


def test_growing_plan_hands_out_ring_after_ring_and_records_them():
    rings = ring_plan(target_scan(area=2.0), FOV, StageConfig())
    recorded: list[int] = []
    source = GrowingPlan(rings, lambda specs: recorded.append(len(specs)))
    got = [len(source.next_tiles()) for _ in range(4)]
    assert got == [1, 8, 16, 24] and recorded == [1, 9, 25, 49]
    # a resume: 9 recorded, tiles 0-6 done -> 7 and 8 again first, then ring 2
    again = GrowingPlan(rings, lambda s: None, handed=9, done=range(7))
    assert [t.index for t in again.next_tiles()] == [7, 8, *range(9, 25)]
    total = len(rings.grid.tiles)
    drained = GrowingPlan(rings, lambda s: None)
    while drained.next_tiles():
        pass
    assert drained.handed == total and drained.next_tiles() == []


# ---------------------------------------------------------------------- on the simulated rig
class TruthCounter:
    """A stop rule from the simulator's truth: healthy WBCs whose centre lies in a taken
    tile's core (each counted once across overlaps), stopping at ``target``."""

    lossless = True

    def __init__(self, world, specs, shape, px_um, target):
        self.world, self.target = world, target
        self.cores = CoreRegions(specs, shape, px_um, keep_outer_border_cells=True)
        self.counted: list[int] = []  # the count after each tile
        self.seen: set[int] = set()

    def put(self, tile):
        hx, hy = self.cores.half_mm
        for c in self.world.cells_in_region(
            tile.x_mm - hx, tile.y_mm - hy, tile.x_mm + hx, tile.y_mm + hy
        ):
            if c.dead or c.id in self.seen or self.cores.owner(*c.centroid_mm) != tile.index:
                continue
            self.seen.add(c.id)
        self.counted.append(len(self.seen))

    def should_stop(self):
        return len(self.seen) >= self.target

    def close(self):
        pass


def sim_rig(width_px=256, height_px=192, **sim):
    from uvscope.sim.devices import build_sim_rig

    cam = CameraConfig(width_px=width_px, height_px=height_px, pixel_size_um=0.5)
    return build_sim_rig(RigConfig(camera=cam, sim=sim))


def _counter(engine, rig, target):
    engine.check()
    cam = rig.camera
    return TruthCounter(
        rig.world,
        engine.plan.tiles,
        (cam.height_px, cam.width_px),
        rig.pixel_size_um,
        target,
    )


def test_target_scan_stops_at_n_white_cells_with_its_tiles_in_the_manifest(tmp_path: Path):
    rig = sim_rig()
    out = tmp_path / "scan"
    engine = ScanEngine(rig, target_scan(wbc=5, area=3.0), out)
    counter = _counter(engine, rig, 5)
    engine.user_sinks.append(counter)
    summary = engine.run()
    assert summary.status == "stopped-early"
    reached = next(i for i, n in enumerate(counter.counted) if n >= 5)
    # the counter gets tiles once written (the writer's queue of two, one in its hands, one
    # being read out): the scan ends within those few tiles of the count being reached
    assert len(counter.counted) - 1 - reached <= 5
    assert counter.counted[-1] >= 5
    manifest = ScanFolder.open(out).read_manifest()
    plan = manifest["plan"]
    done = ScanFolder.open(out).verified_tiles()
    handed = engine.plan.tiles[: plan["tiles"]]
    # the same format as a fixed grid's plan, holding exactly the tiles handed out
    assert plan["positions"] == [[t.index, t.row, t.col, t.x_mm, t.y_mm] for t in handed]
    assert set(done) <= {t.index for t in handed}
    assert sorted(done) == list(range(len(done)))  # taken in ring order
    assert plan["tiles"] in [1 + 4 * r * (r + 1) for r in range(20)]  # whole rings
    assert plan["tiles"] < len(engine.plan.tiles)  # it stopped before the area ran out
    assert summary.tiles_total == plan["tiles"]
    x0, y0, x1, y1 = plan["bounds_mm"]
    assert all(x0 < t.x_mm < x1 and y0 < t.y_mm < y1 for t in handed)


def test_target_scan_ends_when_the_area_is_used_up(tmp_path: Path):
    rig = sim_rig(128, 96)
    engine = ScanEngine(rig, target_scan(wbc=1000, area=0.1), tmp_path / "scan")
    counter = _counter(engine, rig, 1000)
    engine.user_sinks.append(counter)
    summary = engine.run()
    assert summary.status == "complete"
    n = len(engine.plan.tiles)
    assert summary.tiles_done == n == math.floor(0.1 / engine.rings.tile_area_mm2)
    assert ScanFolder.open(tmp_path / "scan").read_manifest()["plan"]["tiles"] == n


def test_interrupted_target_scan_resumes_and_grows_on(tmp_path: Path):
    out = tmp_path / "scan"
    rig = sim_rig(128, 96)
    engine = ScanEngine(rig, target_scan(wbc=1000, area=0.15), out)
    taken: list[int] = []

    def on_tile(tile):
        taken.append(tile.index)
        if len(taken) == 12:
            engine.interrupt("test")

    engine.events.tile_acquired.connect(on_tile)
    assert engine.run().status == "interrupted"
    saved = ScanFolder.open(out).read_manifest()["plan"]["tiles"]
    assert saved == 25  # rings 0-2 handed out, stopped inside ring 2
    rig2 = sim_rig(128, 96)
    again = ScanEngine(rig2, target_scan(wbc=1000, area=0.15), out, resume=True)
    retaken: list[int] = []
    again.events.tile_acquired.connect(lambda t: retaken.append(t.index))
    summary = again.run()
    assert summary.status == "complete"
    n = len(again.plan.tiles)
    assert not set(retaken) & set(taken[:-1])  # finished tiles are not taken again
    assert summary.tiles_done == n
    plan = ScanFolder.open(out).read_manifest()["plan"]
    assert plan["tiles"] == n
    assert [p[0] for p in plan["positions"]] == list(range(n))


def test_the_map_lattice_grows_a_box_of_nodes_around_the_start():
    lattice = MapLattice((10.0, 20.0), 0.5)
    first = lattice.box_for([])
    assert first == (-1, -1, 1, 1)  # 3 x 3 around the start
    assert len(lattice.new_nodes(first, None)) == 9
    near = [TileSpec(0, 0, 0, 10.4, 19.6)]  # inside the first box: nothing new
    assert lattice.box_for(near, first) == first
    out = [TileSpec(1, 0, 0, 10.7, 20.2), TileSpec(2, 0, 0, 9.9, 21.1)]
    grown = lattice.box_for(out, first)
    assert grown == (-1, -1, 2, 3)  # x 0.7 -> node 2 (1.0 mm), y 1.1 -> node 3
    new = lattice.new_nodes(grown, first)
    assert len(new) == 4 * 5 - 9 and (11.0, 21.5) in new and (10.0, 20.0) not in new


def sagging(world, from_start_mm, sag_um_per_mm2):
    """The simulated slide (tilted and bowed) bent further down beyond ``from_start_mm`` of
    the start in x: a slide a map measured only around the start mispredicts there."""
    base = world.surface_z_um

    def surface_z_um(x_mm, y_mm):
        d = max(0.0, abs(x_mm - 42.5) - from_start_mm)
        return base(x_mm, y_mm) + sag_um_per_mm2 * d * d

    world.surface_z_um = surface_z_um


@pytest.mark.slow
def test_the_focus_map_grows_with_the_rings_and_keeps_every_tile_in_focus(
    tmp_path: Path, monkeypatch
):
    """The map is first measured around the start (3 x 3 points), then grown as the rings
    leave it, also after a resume. On a steeply tilted slide that also bends beyond the
    first rings, every tile is within half a depth of field of the simulator's best focus,
    where the first map alone would have put tiles out of focus. Map points 0.4 mm apart
    (2 mm on a real scan) so that a few rings of small tiles grow it twice; the per-tile
    focus check is off, so the tiles' focus is the map's."""
    monkeypatch.setattr(focus_control, "AUTO_POINT_SPACING_MM", 0.4)
    scan = target_scan(wbc=1000, area=1.5, focus={"mode": "map", "refocus_threshold": 0.0})
    out = tmp_path / "scan"

    def rig_and_engine(resume):
        rig = sim_rig(512, 384, tilt_um_per_mm=(4.0, 3.0))
        sagging(rig.world, 0.45, 25.0)
        engine = ScanEngine(rig, scan, out, resume=resume)
        points: list[int] = []  # map points when each tile was taken
        engine.events.tile_acquired.connect(
            lambda t: points.append(len(engine.rig_engine.focus.source.points))
        )
        return rig, engine, points

    rig, engine, points = rig_and_engine(False)
    engine.check()
    span, world = engine.plan.bounds_mm, rig.world
    tilt = abs(world.best_focus_um(span[0], span[1]) - world.best_focus_um(span[2], span[3]))
    assert tilt > 4 * DEPTH_OF_FIELD_UM  # one focus could not hold this area
    engine.events.tile_acquired.connect(lambda t: t.index == 4 and engine.interrupt("test"))
    assert engine.run().status == "interrupted"
    assert points[0] == 9  # the first tile after the 3 x 3 points around the start
    assert ScanFolder.open(out).read_manifest()["focus"]["lattice_box"] == [-1, -1, 1, 1]
    rig, engine, points = rig_and_engine(True)  # ring 2 leaves the box: grown on resume
    summary = engine.run()
    assert summary.status == "complete" and summary.tiles_done == len(engine.plan.tiles)
    records = ScanFolder.open(out).verified_tiles().values()
    off = {r.index: abs(r.z_um - world.best_focus_um(r.x_mm, r.y_mm)) for r in records}
    assert max(off.values()) <= DEPTH_OF_FIELD_UM / 2
    focus = ScanFolder.open(out).read_manifest()["focus"]
    map_points = [FocusPoint(*p) for p in focus["map"]["points"]]
    assert points[0] > 9 and points[-1] == len(map_points)  # grown before the resumed tiles
    assert focus["lattice_box"] != [-1, -1, 1, 1]
    assert len([e for e in _events(out) if e["message"].startswith("map grown")]) >= 2
    # the first map alone extrapolates to the outer rings: tiles there would be soft
    first = FocusMap.fit(map_points[:9], "quadratic")
    first_off = [
        abs(first.z_at(r.x_mm, r.y_mm) - world.best_focus_um(r.x_mm, r.y_mm)) for r in records
    ]
    assert sum(o > DEPTH_OF_FIELD_UM / 2 for o in first_off) >= 3


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
