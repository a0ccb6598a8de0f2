"""Red cells, haemoglobin mass and platelets of simulated tiles against the simulator's truth.

Small fields (520 x 696 px) of fixed seeds, so the figures are deterministic; the tolerances
sit a margin beyond what the analysis achieves here (benchmarks/bench_cbc.py measures it on
whole scans).
"""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest
from scipy.spatial import cKDTree

from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.analysis.absorbance import HbCalibration
from uvscope.analysis.cbc import CbcAccumulator
from uvscope.analysis.dedup import CoreRegions
from uvscope.analysis.evaluate import SimCamera
from uvscope.analysis.evaluate_cbc import score, truth_in_box
from uvscope.analysis.smear import SmearAnalyser, SmearTile

from .smear_grid import SHAPE, analyse_grid, cbc_document, grid


def camera(donor: str, seed: int = 21) -> SimCamera:
    """A new camera each time: its noise generator moves on with every tile it renders, so a
    shared one would give each test other pixels depending on which tests ran before."""
    return SimCamera(donor, seed, shape=SHAPE)


@cache
def scan(donor: str, rows: int = 2, cols: int = 2) -> tuple[list[SmearTile], list, list, tuple]:
    """The smear analysis of a small overlapping grid, with the truth of its area."""
    cam = camera(donor)
    return analyse_grid(cam, grid(cam, rows, cols))


def inner(records: list, box: tuple, margin_um: float = 8.0) -> list:
    """Records away from the scan's outer border (cells cut there are partial everywhere)."""
    x0, y0, x1, y1 = box
    return [
        r
        for r in records
        if x0 + margin_um <= r.x_um < x1 - margin_um and y0 + margin_um <= r.y_um < y1 - margin_um
    ]


def counted(tiles: list[SmearTile]) -> tuple[list, list]:
    return [r for t in tiles for r in t.counted_rbcs], [
        p for t in tiles for p in t.counted_platelets
    ]


def test_each_red_cell_is_counted_once_and_its_haemoglobin_measured() -> None:
    tiles, true_rbcs, true_plts, box = scan("healthy")
    rbcs, plts = counted(tiles)
    x0, y0, x1, y1 = box
    m = 8.0
    truth = [r for r in true_rbcs if x0 + m <= r.cx < x1 - m and y0 + m <= r.cy < y1 - m]
    sc = score(inner(rbcs, box), truth, true_plts, plts)
    assert sc.double_counted == 0  # never by two tiles
    assert sc.splits <= 0.02 * sc.true_rbcs  # a segmentation split is rare
    # every true cell counted once: the count within 6 % (touching cells split or merged)
    assert abs(sc.measured_rbcs - sc.true_rbcs) <= 0.06 * sc.true_rbcs, (
        sc.measured_rbcs,
        sc.true_rbcs,
    )
    err = np.array(sc.hb_errors)
    assert err.size >= 100
    assert abs(float(np.median(err))) < 0.6  # pg, per cell against the simulator's hb_pg
    assert float(np.mean(np.abs(err))) < 1.2
    # MCH of the whole, single cells within 3 % of the truth's over every cell in the area
    mch = np.nanmean([r.hb_pg for r in inner(rbcs, box) if r.measured])
    assert abs(mch - sc.true_mch_pg) < 0.03 * sc.true_mch_pg
    diameters = [r.equivalent_diameter_um for r in inner(rbcs, box) if r.measured]
    assert abs(np.mean(diameters) - sc.true_diameter_um) < 0.3


def test_overlapped_cells_are_counted_but_not_measured() -> None:
    tiles, *_ = scan("healthy")
    rbcs, _ = counted(tiles)
    over = [r for r in rbcs if r.overlapped]
    assert over, "a smear at 30 % cover has touching cells"
    assert all(np.isnan(r.hb_pg) and r.morph == "" for r in over)


def test_sickle_cells_are_called_on_the_sickle_donor_and_not_on_healthy() -> None:
    tiles, true_rbcs, true_plts, box = scan("sickle", 2, 3)
    rbcs, plts = counted(tiles)
    sc = score(rbcs, true_rbcs, true_plts, plts)
    sickle_true = sum(v for (t, _), v in sc.confusion.items() if t == "sickle")
    sickle_hit = sc.confusion[("sickle", "sickle")]
    assert sickle_true >= 10
    assert sickle_hit >= 0.7 * sickle_true, sc.confusion
    false_sickle = sum(v for (t, m), v in sc.confusion.items() if t != "sickle" and m == "sickle")
    assert false_sickle <= 0.02 * sum(sc.confusion.values()), sc.confusion
    acc = CbcAccumulator()
    for t in tiles:
        acc.add(t)
    assert "sickle_cells" in {f["code"] for f in acc.document(None, None)["flags"]}
    healthy = CbcAccumulator()
    for t in scan("healthy")[0]:
        healthy.add(t)
    assert "sickle_cells" not in {f["code"] for f in healthy.document(None, None)["flags"]}


def test_platelets_estimate_and_thrombocytopenia_flag() -> None:
    est = {}
    for donor in ("healthy", "thrombocytopenia"):
        tiles, true_rbcs, true_plts, _ = scan(donor, 2, 3)
        doc = cbc_document(tiles)
        per = doc["platelets"]["per_1000_rbc"]
        true_per = 1000.0 * len(true_plts) / len(true_rbcs)
        est[donor] = (per, true_per, {f["code"] for f in doc["flags"]})
    per, true_per, flags = est["healthy"]
    # a few hundred red cells hold a few dozen platelets: Poisson noise alone is ~15 %
    assert abs(per - true_per) < 0.35 * true_per, est
    assert "thrombocytopenia" not in flags
    per, true_per, flags = est["thrombocytopenia"]
    # healthy ~60 per 1,000 red cells, this donor ~6 (+ debris the size of platelets, which
    # the analysis cannot tell apart at 260 nm alone: as many per mm^2 as this donor's platelets)
    assert per < 20.0, est
    assert "thrombocytopenia" in flags


def _one_tile(donor: str = "healthy") -> Tile:
    cam = camera(donor)
    return cam.tile(grid(cam, 1, 1)[0])


def test_without_a_usable_background_no_haemoglobin_number() -> None:
    tile = _one_tile()
    st = SmearAnalyser(background_usable=False).analyse(tile, None, None)
    assert st.rbcs and all(np.isnan(r.hb_pg) for r in st.rbcs)
    acc = CbcAccumulator()
    acc.add(st)
    hb = acc.document(None, None, background_usable=False)["haemoglobin"]
    assert hb["measured"] is False and hb["mch_pg"] is None and "histogram" not in hb
    assert any("background" in p for p in hb["problems"])
    # a tile normalised by a wrong background (clear glass at 0.6) says so as well
    dim = dataclasses.replace(tile, normalised={260: tile.normalised[260] * np.float32(0.6)})
    st = SmearAnalyser().analyse(dim, None, None)
    assert not st.background_ok and st.hb_problem and "background" in st.hb_problem


def test_a_wavelength_without_a_constant_or_image_is_said() -> None:
    from uvscope.analysis.settings import CbcSettings

    tile = _one_tile()
    hb = HbCalibration(absorptivity_cm2_g={280: 2046.0})
    st = SmearAnalyser(haemoglobin=hb).analyse(tile, None, None)
    assert st.hb_problem and "no haemoglobin absorptivity for 260 nm" in st.hb_problem
    st = SmearAnalyser(CbcSettings(hb_wavelength_nm=280)).analyse(tile, None, None)
    assert st.hb_problem and "no 280 nm image" in st.hb_problem
    assert all(np.isnan(r.hb_pg) for r in st.rbcs)


def test_saturated_red_cells_are_not_measured() -> None:
    tile = _one_tile()
    # an exposure 1.12 x too long: the clear glass and the paler cell pixels clip
    clipped = np.minimum(tile.normalised[260] * np.float32(1.12), np.float32(1.0))
    st = SmearAnalyser().analyse(dataclasses.replace(tile, normalised={260: clipped}), None, None)
    assert st.clear_saturated
    sat = [r for r in st.rbcs if r.saturated]
    assert len(sat) >= 0.5 * len(st.rbcs)
    assert all(np.isnan(r.hb_pg) for r in sat)
    acc = CbcAccumulator()
    acc.add(st)
    problems = acc.document(None, None)["haemoglobin"]["problems"]
    assert any("lower the exposure" in p for p in problems)


@pytest.mark.parametrize("nm,molar", [(260, 116_376), (280, 131_967), (300, 65_984)])
def test_haemoglobin_constants_are_the_literature_values(nm: int, molar: float) -> None:
    # Prahl's molar extinction (cm^-1 M^-1 = L g^-1 cm^-1 x g/mol) over 64,500 g/mol:
    # L/(g cm) x 1000 = cm^2/g; x 1e-4 = OD per pg/um^2
    assert HbCalibration().od_per_pg_um2(nm) == pytest.approx(molar / 64_500 * 1e3 * 1e-4, rel=2e-3)


class _NoCells:
    """A segmenter that finds no white cell: every absorbing object is left to the smear."""

    pixel_size_um = 0.32
    patch_size = 64

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.zeros_like(batch, dtype=np.float32)
        return z, z


def _scan_folder(tmp_path, backgrounds: bool):
    import json

    from tests.analysis.scanfolder_fixture import write_scan_folder

    cam = camera("healthy")
    specs = grid(cam, 2, 2)
    root = tmp_path / "scan"
    write_scan_folder(root, specs, [cam.tile(s) for s in specs])
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config"]["sample"] = {"rbc_per_ul": 5.0e6}
    manifest["backgrounds"] = [{"id": "bg0"}] if backgrounds else []
    path.write_text(json.dumps(manifest))
    return root, cam, specs


@pytest.mark.slow
def test_analyze_writes_cbc_tables_and_report_section(tmp_path) -> None:
    import csv
    import json

    from tests.analysis.synth import fake_models
    from uvscope.analysis.models import ModelSet
    from uvscope.analysis.session import analyse_scan_folder
    from uvscope.report.page import write_report

    f = fake_models()
    models = ModelSet(_NoCells(), f.stainer, f.classifier, provenance=f.provenance)
    root, cam, specs = _scan_folder(tmp_path, backgrounds=True)
    analyse_scan_folder(root, models, report=write_report)
    a = root / "analysis"
    doc = json.loads((a / "cbc.json").read_text())
    with open(a / "rbc.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == doc["red_cells_counted"] > 200
    assert {"area_um2", "equivalent_diameter_um", "hb_pg", "x_um"} <= set(rows[0])
    assert (a / "platelets.csv").read_text().startswith("platelet_id,")
    hx, hy = cam.half_um()
    xs, ys = [s.x_mm * 1e3 for s in specs], [s.y_mm * 1e3 for s in specs]
    truth, _ = truth_in_box(cam.world, (min(xs) - hx, min(ys) - hy, max(xs) + hx, max(ys) + hy))
    true_mch = float(np.mean([r.hb_pg for r in truth]))
    assert abs(doc["haemoglobin"]["mch_pg"] - true_mch) < 0.05 * true_mch
    assert doc["rbc_per_ul"] == 5.0e6 and doc["rbc_per_ul_source"] == "sample"
    page = (a / "report.html").read_text()
    assert "Red cells and platelets" in page and "simulated smears only" in page
    assert f"{doc['haemoglobin']['mch_pg']:.1f} pg" in page
    # the same scan without a background: said, and no haemoglobin number anywhere
    root2, *_ = _scan_folder(tmp_path / "nobg", backgrounds=False)
    analyse_scan_folder(root2, models, report=write_report)
    doc = json.loads((root2 / "analysis" / "cbc.json").read_text())
    assert doc["haemoglobin"]["mch_pg"] is None and doc["haemoglobin"]["problems"]
    with open(root2 / "analysis" / "rbc.csv", newline="") as fh:
        assert all(r["hb_pg"] == "" for r in csv.DictReader(fh))
    page = (root2 / "analysis" / "report.html").read_text()
    assert "not measured" in page and "no usable background" in page


def test_the_worker_keeps_no_red_cell_once_written() -> None:
    """Memory flat in tiles: each tile's object lists go to the writer, then are dropped."""
    from tests.analysis.synth import fake_models
    from uvscope.analysis.models import ModelSet
    from uvscope.analysis.worker import AnalysisWorker

    f = fake_models()
    models = ModelSet(_NoCells(), f.stainer, f.classifier, provenance=f.provenance)
    cam = camera("healthy")
    specs = grid(cam, 1, 2)
    written: list[int] = []
    worker = AnalysisWorker(
        models, plan=specs, on_result=lambda r: written.append(len(r.smear.counted_rbcs))
    )
    for s in specs:
        worker.put(cam.tile(s))
    worker.close()
    assert sum(written) > 100
    for res in worker.results.values():
        assert res.smear is not None and res.smear.rbcs == [] and res.smear.platelets == []


def test_fill_holes_matches_scipy() -> None:
    from scipy import ndimage as ndi

    from uvscope.analysis.smear import fill_holes

    rng = np.random.default_rng(3)
    for _ in range(5):
        m = ndi.gaussian_filter(rng.normal(size=(120, 150)), 3) > 0.05
        assert (fill_holes(m) == ndi.binary_fill_holes(m)).all()


@pytest.mark.slow
def test_platelet_sized_debris_is_not_counted_as_platelets() -> None:
    """Thrombocytopenic slides carry as much platelet-sized debris as platelets: counted
    platelet objects must be platelets of the truth (before the debris rule, a third to a
    half of them were debris: 9 of 20 on these tiles), while the platelets are still found.
    Seed 31 is not among those the discriminant was fitted on (51-56)."""
    found = debris = 0
    for donor in ("thrombocytopenia", "ttp-like"):
        cam = SimCamera(donor, 31)
        cx, cy = cam.world.smear_centre_mm()
        an = SmearAnalyser()
        for i in range(6):
            x, y = cx + 0.4 * (i % 3), cy + 0.4 * (i // 3)
            truth = cam.world.ground_truth(x, y)
            st = an.analyse(cam.tile(TileSpec(i, 0, i, x, y)), truth.cell_labels, None)
            tree = cKDTree(
                [(p.centroid_mm[0] * 1e3, p.centroid_mm[1] * 1e3) for p in truth.platelets]
            )
            for p in st.counted_platelets:
                near = tree.query((p.x_um, p.y_um))[0] < 2.0
                found += near
                debris += not near
    assert found >= 8, (found, debris)  # 9 on these tiles (11 objects near a platelet before)
    # 9 platelets and no debris with the full-resolution profile (1 debris object with the
    # rule of before, 9 before any debris rule)
    assert debris <= 0.1 * (found + debris), (found, debris)


@pytest.mark.parametrize(
    ("donor", "tolerance"),
    [("healthy", 0.02), ("macrocytic", 0.02), ("iron-deficiency", 0.03), ("sickle", 0.05)],
)
def test_mch_against_the_truth_on_every_donor(donor: str, tolerance: float) -> None:
    """The MCH in cbc.json against the truth of the area. Per piece of an overlapped group it
    read 3-6 % low (macrocytic: large cells split in two); over the whole cells it is within
    1 % on healthy and macrocytic slides here. Sickle cells carry 70-100 % of a normal cell's
    haemoglobin and overlap more often, so the whole cells read about 4 % high there."""
    tiles, true_rbcs, _, _ = scan(donor, 2, 3)
    acc = CbcAccumulator()
    for t in tiles:
        acc.add(t)
    mch = acc.document(None, None)["haemoglobin"]["mch_pg"]
    true_mch = float(np.mean([r.hb_pg for r in true_rbcs]))
    assert abs(mch - true_mch) < tolerance * true_mch, (mch, true_mch)


def test_haemoglobin_width_on_the_sickle_donor() -> None:
    """Cells lying on each other as one outline carry twice a cell's haemoglobin; split
    pieces are tested for it too, so the width of the haemoglobin mass follows the truth's
    (before: 18.1 % against 12.2 % on 6 full tiles of seed 61, the outliers' doing)."""
    tiles, true_rbcs, _, _ = scan("sickle", 2, 3)
    acc = CbcAccumulator()
    for t in tiles:
        acc.add(t)
    width = acc.document(None, None)["haemoglobin"]["hb_width_cv_percent"]
    hb = np.array([r.hb_pg for r in true_rbcs])
    true_width = 100.0 * hb.std(ddof=1) / hb.mean()
    assert abs(width - true_width) < 2.0, (width, true_width)


def test_sickle_share_counts_the_sickle_cells_in_groups() -> None:
    """Sickle cells, long and thin, touch other cells more often than round ones: over the
    whole cells alone their share read 7 points low on these six small tiles (11.8 % against
    18.9 %). Read in the groups too, it reads 17.0 %; healthy slides gain none."""
    tiles, true_rbcs, _, _ = scan("sickle", 2, 3)
    acc = CbcAccumulator()
    for t in tiles:
        acc.add(t)
    morph = acc.document(None, None)["morphology"]
    true_share = 100.0 * np.mean([r.morph == "sickle" for r in true_rbcs])
    whole_share = morph["classes"]["sickle"]["percent"]
    share = morph["sickle_all_cells"]["percent"]
    assert morph["sickle_all_cells"]["in_groups"] >= 10
    assert abs(share - true_share) < 2.5, (share, whole_share, true_share)
    assert abs(share - true_share) < 0.5 * abs(whole_share - true_share)
    assert sum(t.sickle_in_groups for t in scan("healthy")[0]) <= 1


def test_sickle_members_are_read_from_a_group_and_round_cells_are_not() -> None:
    from uvscope.analysis.rbc_morphology import sickle_members

    px = 0.32
    y, x = np.mgrid[0:80, 0:120] * px
    disc = (x - 10) ** 2 + (y - 12) ** 2 <= 3.7**2
    two_discs = disc | ((x - 17) ** 2 + (y - 12) ** 2 <= 3.7**2)
    assert sickle_members(two_discs, px) == []
    # a crescent 14 um long and 2.6 um wide lying against the first disc
    crescent = (np.abs(y - 12 - 0.04 * (x - 20.5) ** 2) <= 1.3) & (np.abs(x - 20.5) <= 7)
    members = sickle_members(disc | crescent, px)
    assert len(members) == 1
    row, col, _ = members[0]
    assert abs(col * px - 20.5) < 2.0


def test_platelet_clumps_flag_only_where_platelets_clump(monkeypatch) -> None:
    """A single platelet counts one whatever its size (1.5-3 um: its OD spans four-fold), so
    large single platelets no longer read as clumps of two and raised the flag on every
    donor; a donor whose platelets clump (60 % of placements) raises it."""
    from uvscope.sim import donors

    flags = {}
    for donor in ("healthy", "thrombocytopenia"):
        acc = CbcAccumulator()
        for t in scan(donor, 2, 3)[0]:
            acc.add(t)
        flags[donor] = {f["code"] for f in acc.document(None, None)["flags"]}
    clumping = dataclasses.replace(donors._healthy(), name="clumping", platelet_clump_prob=0.6)
    monkeypatch.setitem(donors.DONORS, "clumping", lambda: clumping)
    cam = SimCamera("clumping", 21, shape=SHAPE)
    specs = grid(cam, 2, 3)
    cores = CoreRegions(specs, SHAPE, cam.px)
    an, acc = SmearAnalyser(), CbcAccumulator()
    for spec in specs:
        wbc = cam.world.ground_truth(spec.x_mm, spec.y_mm).cell_labels
        acc.add(an.analyse(cam.tile(spec), wbc, cores))
    flags["clumping"] = {f["code"] for f in acc.document(None, None)["flags"]}
    assert "platelet_clumps" not in flags["healthy"] | flags["thrombocytopenia"], flags
    assert "platelet_clumps" in flags["clumping"], (flags, acc.clumped_platelets, acc.platelets)
