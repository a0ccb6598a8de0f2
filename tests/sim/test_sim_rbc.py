"""Red cells and platelets of the virtual slide: ids, instance maps, haemoglobin, morphology
classes at their donor shares, overlaps and platelet clumps, checked against the raster."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np
import pytest

from uvscope.classes import RBC_CLASSES
from uvscope.config import CameraConfig, SimConfig
from uvscope.errors import ConfigError
from uvscope.sim.cells import rbc_overlap
from uvscope.sim.donors import DonorProfile, get_donor
from uvscope.sim.slide import OVERLAP_MIN_FRACTION
from uvscope.sim.world import SimWorld

CAM = CameraConfig(width_px=320, height_px=240)


def _world(donor: str, seed: int = 2) -> SimWorld:
    return SimWorld(SimConfig(seed=seed, donor=donor), CAM)


@pytest.fixture(scope="module")
def thal() -> SimWorld:
    """Target cells, elliptocytes, fragments and platelet clumps on one slide."""
    return _world("thalassaemia-like")


def _field_box_um(world: SimWorld, x_mm: float, y_mm: float) -> tuple[float, ...]:
    """The stage box (um) the field's pixel centres cover."""
    ps = world.pixel_size_um
    row, col = world._origin(x_mm, y_mm)
    r0, c0 = round(row), round(col)
    return (c0 * ps, r0 * ps, (c0 + world.width_px) * ps, (r0 + world.height_px) * ps)


def _inside(box: tuple[float, ...], cx: float, cy: float, margin: float) -> bool:
    x0, y0, x1, y1 = box
    return x0 + margin <= cx < x1 - margin and y0 + margin <= cy < y1 - margin


def test_instance_maps_agree_with_the_query_api(thal):
    x, y = thal.smear_centre_mm()
    gt = thal.ground_truth(x, y)
    assert gt.rbc_labels is not None and gt.platelet_labels is not None
    assert gt.rbc_labels.dtype == np.int32 and gt.platelet_labels.dtype == np.int32
    in_map = set(np.unique(gt.rbc_labels).tolist()) - {0}
    assert in_map == {r.id for r in gt.rbcs} and len(in_map) > 20
    assert np.array_equal(gt.rbc_mask, gt.rbc_labels > 0)
    box = _field_box_um(thal, x, y)
    queried = thal.slide.rbcs_in_box(*box)
    # every RBC whose outline lies wholly in the field has pixels there, and no other id does
    whole = {r.id for r in queried if _inside(box, r.cx, r.cy, max(r.a, r.b) + 0.5)}
    assert whole <= in_map
    near = {r.id for r in thal.slide.rbcs_in_box(box[0] - 9, box[1] - 9, box[2] + 9, box[3] + 9)}
    assert in_map <= near
    ps2 = thal.pixel_size_um**2
    by_id = {r.id: r for r in queried}
    for i in whole:
        r = by_id[i]
        n = int((gt.rbc_labels == i).sum())
        if not r.overlapped:  # its whole outline is its own (touching cells share < 5 %)
            assert abs(n * ps2 - r.area_um2) < 0.08 * r.area_um2 + 2 * ps2, (r.morph, n)
    # platelets: the map's ids are the records', and each record's centre is near the field
    p_map = set(np.unique(gt.platelet_labels).tolist()) - {0}
    assert p_map == {p.id for p in gt.platelets}
    for p in gt.platelets:
        assert _inside(box, p.centroid_mm[0] * 1e3, p.centroid_mm[1] * 1e3, -4.0)


def test_ids_are_global_and_do_not_depend_on_the_visit_order():
    a, b = _world("ttp-like", 9), _world("ttp-like", 9)
    x, y = a.smear_centre_mm()
    box = (x * 1e3, y * 1e3, x * 1e3 + 300, y * 1e3 + 300)
    far = (x * 1e3 + 250, y * 1e3 + 250, x * 1e3 + 600, y * 1e3 + 600)
    b.slide.rbcs_in_box(*far)  # b sees a neighbouring area first
    ra, rb = a.slide.rbcs_in_box(*box), b.slide.rbcs_in_box(*box)
    assert ra == rb
    ids = [r.id for r in ra]
    assert len(set(ids)) == len(ids) and min(ids) >= 1
    pa, pb = a.slide.platelets_in_box(*box), b.slide.platelets_in_box(*box)
    assert pa == pb and len({p.id for p in pa}) == len(pa)


def test_hb_map_integrates_to_each_cells_haemoglobin():
    for donor in ("healthy", "spherocytosis", "ttp-like", "thalassaemia-like", "sickle"):
        w = _world(donor, 5)
        x, y = w.smear_centre_mm()
        box = _field_box_um(w, x, y)
        ps = w.pixel_size_um
        row, col = w._origin(x, y)
        m = w.slide.window(ps, round(row), round(col), w.height_px, w.width_px, ("hb", "rbc_id"))
        checked = 0
        for r in w.slide.rbcs_in_box(*box):
            if r.overlapped or not _inside(box, r.cx, r.cy, max(r.a, r.b) + 1.0):
                continue
            own = m["rbc_id"] == r.id
            mass = float(m["hb"][own].sum()) * ps * ps
            # touching neighbours share at most a sliver of edge (thin) haemoglobin
            assert mass == pytest.approx(r.hb_pg, rel=0.04), (donor, r.morph, mass, r.hb_pg)
            checked += 1
        assert checked >= 5, donor


@pytest.mark.parametrize(
    "donor", ["sickle", "spherocytosis", "elliptocytosis", "ttp-like", "thalassaemia-like"]
)
def test_morphology_classes_are_drawn_at_the_donor_shares(donor):
    w = _world(donor, 7)
    x, y = w.smear_centre_mm()
    rbcs = w.slide.rbcs_in_box(x * 1e3, y * 1e3, x * 1e3 + 1000, y * 1e3 + 1000)  # 1 mm^2
    n = len(rbcs)
    assert n > 3000
    counts = Counter(r.morph for r in rbcs)
    assert set(counts) <= set(RBC_CLASSES)
    for k, p in w.donor.rbc_morph_shares().items():
        sd = math.sqrt(n * p * (1 - p))
        assert abs(counts[k] - n * p) < 4 * sd + 3, (k, counts[k], n * p)


def test_each_class_has_its_physics():
    """Spherocytes small and dense, elliptocytes elongated, schistocytes small with
    haemoglobin in proportion to area, target cells with a central bump in the pallor."""
    donor = dataclasses.replace(
        get_donor("healthy"),
        rbc_morph_fractions={"spherocyte": 0.2, "elliptocyte": 0.2, "schistocyte": 0.2,
                             "target": 0.2},
    )  # fmt: skip
    w = SimWorld(SimConfig(seed=3), CAM, donor=donor)
    x, y = w.smear_centre_mm()
    cells = w.slide.rbcs_in_box(x * 1e3, y * 1e3, x * 1e3 + 400, y * 1e3 + 400)
    by: dict[str, list] = {k: [r for r in cells if r.morph == k] for k in RBC_CLASSES}
    dens = {k: np.median([r.hb_pg / r.area_um2 for r in v]) for k, v in by.items() if v}
    diam = {k: np.median([r.diameter_um for r in v]) for k, v in by.items() if v}
    assert 5.5 < diam["spherocyte"] < 6.5 and 7.0 < diam["normal"] < 7.6
    assert dens["spherocyte"] > 1.35 * dens["normal"]
    ratio = [max(r.a, r.b) / min(r.a, r.b) for r in by["elliptocyte"]]
    assert min(ratio) >= 1.29 and max(ratio) <= 2.51 and np.median(ratio) > 1.6
    assert diam["schistocyte"] < 0.85 * diam["normal"]
    assert dens["schistocyte"] == pytest.approx(dens["normal"], rel=0.15)
    assert {r.fragment for r in by["schistocyte"]} == {"helmet", "triangle", "crescent"}
    # target: the hb profile along the cell's axis rises in the centre above the pallor ring
    ps = 0.1
    for r in by["target"][:5]:
        p = r.patch(ps, w.optics)
        assert p.hb is not None
        h, wd = p.hb.shape
        cr, cc = (r.cy / ps - p.r0), (r.cx / ps - p.c0)
        yy, xx = np.mgrid[0:h, 0:wd]
        rho = np.hypot(yy - cr, xx - cc) * ps / math.sqrt(r.a * r.b)
        centre = p.hb[rho < 0.1].mean()
        ring = p.hb[(rho > 0.4) & (rho < 0.5)].mean()
        rim = p.hb[(rho > 0.7) & (rho < 0.8)].mean()
        assert centre > 1.3 * ring and rim > 1.3 * ring, (centre, ring, rim)
    for r in by["normal"][:5]:  # a normal cell's centre is its thinnest part
        p = r.patch(ps, w.optics)
        assert p.hb is not None
        cr, cc = int(round(r.cy / ps - p.r0)), int(round(r.cx / ps - p.c0))
        assert p.hb[cr, cc] < p.hb.max() * 0.8


def test_overlap_flags_are_symmetric_across_chunk_borders():
    w = _world("elliptocytosis", 4)
    c = w.slide.layout.chunk_um
    ox, oy = w.slide.origin_um
    x, y = w.smear_centre_mm()
    bx = ox + c * math.floor((x * 1e3 - ox) / c)  # a chunk corner near the smear centre
    by = oy + c * math.floor((y * 1e3 - oy) / c)
    rbcs = w.slide.rbcs_in_box(bx - 100, by - 100, bx + 100, by + 100)
    flagged = [r for r in rbcs if r.overlapped]
    assert flagged
    pts = {r.id: r for r in w.slide.rbcs_in_box(bx - 120, by - 120, bx + 120, by + 120)}
    crossing = 0
    for r in rbcs:
        partners = [
            q
            for q in pts.values()
            if q.id != r.id
            and math.hypot(q.cx - r.cx, q.cy - r.cy) < q.reach_um + r.reach_um
            and rbc_overlap(r, q, OVERLAP_MIN_FRACTION)
        ]
        assert r.overlapped == bool(partners), r
        assert all(q.overlapped for q in partners)
        crossing += sum(
            (math.floor((q.cx - ox) / c), math.floor((q.cy - oy) / c))
            != (math.floor((r.cx - ox) / c), math.floor((r.cy - oy) / c))
            for q in partners
        )
    assert crossing > 0  # some overlaps span two chunks and are marked on both sides


def test_an_overlap_in_the_map_goes_to_the_larger_id(thal):
    x, y = thal.smear_centre_mm()
    box = _field_box_um(thal, x, y)
    rbcs = {r.id: r for r in thal.slide.rbcs_in_box(box[0] - 9, box[1] - 9, box[2] + 9, box[3] + 9)}
    gt = thal.ground_truth(x, y)
    ps = thal.pixel_size_um
    rows, cols = np.nonzero(gt.rbc_labels)
    take = np.arange(0, len(rows), 7)
    sx, sy = box[0] + cols[take] * ps, box[1] + rows[take] * ps  # pixel centres (um)
    labels = gt.rbc_labels[rows[take], cols[take]]
    contested = 0
    for r in rbcs.values():
        inside = r.contains(sx.astype(np.float32), sy.astype(np.float32))
        # a pixel inside this cell shows it or a larger id (a cell drawn over it)
        assert (labels[inside] >= r.id).all()
        contested += int((labels[inside] > r.id).sum())
    assert contested > 0


def test_platelet_clumps_share_one_id():
    w = _world("healthy", 12)
    x, y = w.smear_centre_mm()
    plts = w.slide.platelets_in_box(x * 1e3, y * 1e3, x * 1e3 + 700, y * 1e3 + 700)
    clumps: dict[int, list] = {}
    for p in plts:
        if p.clump_id >= 0:
            clumps.setdefault(p.clump_id, []).append(p)
    singles = [p for p in plts if p.clump_id == -1]
    assert clumps and singles
    ids = {p.id for p in plts}
    for cid, members in clumps.items():
        if min(m.cx for m in members) < x * 1e3 + 10:  # a clump cut by the box edge
            continue
        assert cid in ids and cid == min(m.id for m in members)
        assert 2 <= len(members) <= 5
        spread = max(math.hypot(m.cx - members[0].cx, m.cy - members[0].cy) for m in members)
        assert spread < 12.0
    n_rbc = len(w.slide.rbcs_in_box(x * 1e3, y * 1e3, x * 1e3 + 700, y * 1e3 + 700))
    events = len(singles) + len(clumps)  # a clump is one placement of the donor's rate
    p = w.donor.platelets_per_rbc
    assert abs(events - p * n_rbc) < 4 * math.sqrt(p * n_rbc) + 0.08 * p * n_rbc


def test_donor_indices_and_platelet_rates():
    x0, size = None, 500.0
    out = {}
    for name in ("healthy", "iron-deficiency", "macrocytic", "thrombocytopenia", "ttp-like"):
        w = _world(name, 8)
        x, y = w.smear_centre_mm()
        x0 = (x * 1e3, y * 1e3)
        rbcs = w.slide.rbcs_in_box(x0[0], x0[1], x0[0] + size, x0[1] + size)
        plts = w.slide.platelets_in_box(x0[0], x0[1], x0[0] + size, x0[1] + size)
        d = np.array([r.diameter_um for r in rbcs])
        out[name] = (np.mean([r.hb_pg for r in rbcs]), d.mean(), d.std(), len(plts) / len(rbcs))
    assert out["iron-deficiency"][0] == pytest.approx(20.0, abs=0.6)
    assert out["macrocytic"][0] == pytest.approx(34.0, abs=0.6)
    assert out["healthy"][0] == pytest.approx(29.0, abs=0.6)
    assert 5.9 < out["iron-deficiency"][1] < 6.5 < 8.1 < out["macrocytic"][1] < 8.8
    assert out["iron-deficiency"][2] > 1.5 * out["healthy"][2]  # anisocytosis
    assert out["thrombocytopenia"][3] < 0.2 * out["healthy"][3]
    assert out["ttp-like"][3] < 0.2 * out["healthy"][3]


def test_morphology_shares_are_validated_and_sickle_fraction_still_works():
    old = DonorProfile(name="old", sickle_fraction=0.2)
    shares = old.rbc_morph_shares()
    assert list(shares) == list(RBC_CLASSES)
    assert shares["sickle"] == 0.2 and shares["normal"] == pytest.approx(0.8)
    new = DonorProfile(name="new", sickle_fraction=0.2, rbc_morph_fractions={"sickle": 0.05})
    assert new.rbc_morph_shares()["sickle"] == 0.05
    with pytest.raises(ConfigError, match="rbc_morph_fractions has 'acanthocyte'"):
        DonorProfile(name="x", rbc_morph_fractions={"acanthocyte": 0.1}).rbc_morph_shares()
    with pytest.raises(ConfigError, match="sum to at most 1"):
        DonorProfile(
            name="x", rbc_morph_fractions={"target": 0.7, "schistocyte": 0.5}
        ).rbc_morph_shares()
    # every named donor's shares are valid, and the poikilocyte donors carry theirs
    from uvscope.sim.donors import DONORS

    for name in DONORS:
        assert sum(get_donor(name).rbc_morph_shares().values()) == pytest.approx(1.0)
    assert get_donor("elliptocytosis").rbc_morph_shares()["elliptocyte"] >= 0.25
    assert 0.10 <= get_donor("spherocytosis").rbc_morph_shares()["spherocyte"] <= 0.20
    assert 0.03 <= get_donor("ttp-like").rbc_morph_shares()["schistocyte"] <= 0.08


def test_tile_bytes_count_the_instance_maps(thal):
    t = thal.slide.tile(thal.pixel_size_um, 700, 700)
    n = thal.slide.layout.tile_px
    assert t.rbc_id.dtype == np.int32 and t.plt_id.dtype == np.int32
    assert t.nbytes >= 4 * n * n * 4 + 4 * n * n * 4  # four float maps, four int32 maps
    assert t.nbytes == sum(
        a.nbytes for a in (t.na, t.prot, t.hb, t.scat, t.cell, t.nuc, t.rbc_id, t.plt_id)
    ) + sum(a.nbytes for a in t.trans.values())
