"""The virtual slide: lazy, deterministic, stable ids, donor proportions, blank patches."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from uvscope.config import CameraConfig, SimConfig
from uvscope.errors import ConfigError
from uvscope.sim.donors import WBC_KINDS, donor_names, get_donor, random_donor
from uvscope.sim.world import SimWorld


def test_same_field_twice_gives_identical_ground_truth(world, find_cell):
    c = find_cell(world, "neutrophil")
    a = world.ground_truth(*c.centroid_mm)
    fresh = SimWorld(world.sim, world.camera)  # a new world, nothing cached
    b = fresh.ground_truth(*c.centroid_mm)
    assert np.array_equal(a.cell_labels, b.cell_labels)
    assert np.array_equal(a.nucleus_labels, b.nucleus_labels)
    assert np.array_equal(a.rbc_mask, b.rbc_mask)
    assert np.array_equal(a.stained_rgb, b.stained_rgb)
    assert a.cells == b.cells
    assert any(r.id == c.id for r in a.cells)
    assert a.cell_labels.dtype == np.int32 and a.stained_rgb.shape == (192, 256, 3)


def test_overlapping_views_agree_on_cells(world, find_cell):
    c = find_cell(world, "lymphocyte")
    x, y = c.centroid_mm
    ps = world.pixel_size_um * 1e-3
    dr, dc = 37, 61
    a = world.ground_truth(x, y)
    b = world.ground_truth(x + dc * ps, y + dr * ps)
    # pixel (r, c) of b is pixel (r + dr, c + dc) of a
    assert np.array_equal(a.cell_labels[dr:, dc:], b.cell_labels[:-dr, :-dc])
    assert np.array_equal(a.rbc_mask[dr:, dc:], b.rbc_mask[:-dr, :-dc])
    common = {r.id for r in a.cells} & {r.id for r in b.cells}
    assert c.id in common
    ra = {r.id: r for r in a.cells}
    rb = {r.id: r for r in b.cells}
    for i in common:
        assert ra[i] == rb[i]


def test_cell_record_matches_its_mask(world, find_cell):
    c = find_cell(world, "monocyte")
    gt = world.ground_truth(*c.centroid_mm)
    rows, cols = np.nonzero(gt.cell_labels == c.id)
    h, w = gt.cell_labels.shape
    # the cell sits at the image centre (position = image centre)
    assert abs(rows.mean() - (h - 1) / 2) < 6 and abs(cols.mean() - (w - 1) / 2) < 6
    area_um2 = len(rows) * world.pixel_size_um**2
    assert 0.6 < area_um2 / (np.pi * (c.diameter_um / 2) ** 2) < 1.3
    nuc = gt.nucleus_labels == c.id
    assert nuc.any() and not (nuc & (gt.cell_labels != c.id)).any()


def test_render_moves_with_the_stage(world, rng, find_cell):
    c = find_cell(world, "lymphocyte")
    x, y = c.centroid_mm
    z = world.best_focus_um(x, y, 260)
    a = world.transmission(x, y, z, 260)
    b = world.transmission(x + 20 * world.pixel_size_um * 1e-3, y, z, 260)
    # stage +x by 20 px: content moves 20 columns left
    assert np.allclose(a[:, 20:], b[:, :-20], atol=2e-3)


def test_blank_position_is_cell_free_and_holds_a_frame(world):
    bx, by = world.blank_position_mm()
    gt = world.ground_truth(bx, by)
    assert not gt.cell_labels.any() and not gt.rbc_mask.any() and gt.cells == []
    for x0, y0, x1, y1 in world.blank_regions_mm():
        assert x1 - x0 >= 0.4 and y1 - y0 >= 0.3
        assert world.cells_in_region(x0, y0, x1, y1, include_rbc=True) == []
    assert len(world.blank_regions_mm()) == world.sim.blank_regions
    t = world.transmission(bx, by, world.best_focus_um(bx, by, 260), 260)
    assert t.min() > 0.999


def test_wbc_proportions_match_the_donor():
    donor = dataclasses.replace(get_donor("healthy"), wbc_per_mm2=60.0)
    w = SimWorld(SimConfig(seed=11), CameraConfig(width_px=64, height_px=64), donor=donor)
    cells = w.cells_in_region(35.0, 25.0, 39.0, 29.0)
    n = len(cells)
    assert abs(n - 16 * 60.0) < 4 * np.sqrt(16 * 60.0) + 20
    p = donor.fractions()
    counts = np.array([sum(c.kind == k for c in cells) for k in WBC_KINDS])
    for k, cnt, pk in zip(WBC_KINDS, counts, p, strict=True):
        sd = np.sqrt(n * pk * (1 - pk))
        assert abs(cnt - n * pk) < 4 * sd + 2, (k, cnt, n * pk)
    dead = sum(c.dead for c in cells)
    assert abs(dead - n * donor.dead_fraction) < 4 * np.sqrt(n * donor.dead_fraction) + 2
    diam = {
        k: np.mean([c.diameter_um for c in cells if c.kind == k and not c.dead])
        for k in ("neutrophil", "lymphocyte", "monocyte")
    }
    assert 10 < diam["neutrophil"] < 14 and 7 < diam["lymphocyte"] < 11
    assert diam["monocyte"] > diam["neutrophil"] > diam["lymphocyte"]


def test_donor_profiles_differ():
    assert {"healthy", "neutropenia", "thrombocytopenia", "sickle"} <= set(donor_names())
    h, n = get_donor("healthy").fractions(), get_donor("neutropenia").fractions()
    assert n[0] < 0.5 * h[0]
    low = get_donor("thrombocytopenia").platelets_per_rbc
    assert low < 0.2 * get_donor("healthy").platelets_per_rbc
    assert get_donor("sickle").sickle_fraction > 0.05
    r1, r2 = random_donor(5), random_donor(6)
    assert r1 == random_donor(5) and r1 != r2
    assert get_donor("random-5") == r1
    with pytest.raises(ConfigError, match="unknown donor"):
        get_donor("nobody")


def test_sickle_donor_has_sickled_rbcs():
    w = SimWorld(SimConfig(donor="sickle", seed=2), CameraConfig(width_px=64, height_px=64))
    cx, cy = w.smear_centre_mm()
    rbcs = w.cells_in_region(cx, cy, cx + 0.3, cy + 0.3, include_rbc=True)
    kinds = [r.kind for r in rbcs]
    frac = kinds.count("sickle_rbc") / max(kinds.count("rbc") + kinds.count("sickle_rbc"), 1)
    assert 0.08 < frac < 0.3
    healthy = SimWorld(SimConfig(seed=2), CameraConfig(width_px=64, height_px=64))
    assert all(
        r.kind != "sickle_rbc"
        for r in healthy.cells_in_region(cx, cy, cx + 0.3, cy + 0.3, include_rbc=True)
    )


def test_rbc_density_is_realistic(world):
    cx, cy = world.smear_centre_mm()
    # a 1392 x 1040 frame at 0.16 um/px is about 0.223 x 0.166 mm and holds 200-450 RBCs
    rbcs = [
        r
        for r in world.cells_in_region(cx, cy, cx + 0.223, cy + 0.166, include_rbc=True)
        if r.kind == "rbc"
    ]
    assert 150 < len(rbcs) < 450


def test_some_wbcs_touch_each_other():
    donor = dataclasses.replace(get_donor("healthy"), wbc_per_mm2=40.0, wbc_touching_prob=0.2)
    w = SimWorld(SimConfig(seed=5), CameraConfig(width_px=64, height_px=64), donor=donor)
    cells = w.cells_in_region(35.0, 25.0, 37.0, 27.0)
    xy = np.array([c.centroid_mm for c in cells]) * 1e3
    r = np.array([c.diameter_um / 2 for c in cells])
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    touching = (d < 1.02 * (r[:, None] + r[None, :])) & ~np.eye(len(cells), dtype=bool)
    assert 0.05 * len(cells) < touching.any(axis=1).sum() < 0.6 * len(cells)


def test_tile_cache_stays_within_its_budget(rng):
    from uvscope.sim.slide import SlideLayout

    layout = SlideLayout(tile_px=128, tile_cache_mb=4.0, chunk_cache=50)
    w = SimWorld(SimConfig(seed=9), CameraConfig(width_px=96, height_px=64), layout=layout)
    cx, cy = w.smear_centre_mm()
    tile_bytes = 128 * 128 * (4 * 4 + 4 + 4 + 1 + 4)  # maps, labels, one transmission
    for i in range(40):
        x = cx + 0.02 * i
        w.render(x, cy, w.best_focus_um(x, cy), 260, 10.0, rng)
        assert w.slide._tile_bytes <= 4 * 2**20 + 16 * tile_bytes
        assert len(w.slide._chunk_cache) <= 50
    assert len(w.slide._tiles) <= 16  # old tiles were dropped (80 were drawn)
