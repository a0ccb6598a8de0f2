"""The pre-class cells the simulator draws: each looks as what it contains says it must under
deep UV (nucleic acid, protein, haemoglobin), and the donors that carry them draw them at their
profile's share, without moving any five-class cell of a donor that carries none."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from uvscope.classes import CLASSES, PRECLASSES
from uvscope.config import SimConfig
from uvscope.sim.donors import DonorProfile, get_donor
from uvscope.sim.optics import OpticsParams
from uvscope.sim.slide import VirtualSlide
from uvscope.sim.wbc import make_wbc

PS_UM = 0.16
OPTICS = OpticsParams()
DONOR = DonorProfile(name="test")


def _cells(kind: str, n: int = 4) -> list:
    return [
        make_wbc(np.random.default_rng([7, i]), i + 1, kind, None, 0.0, 0.0, DONOR)
        for i in range(n)
    ]


def _od260(kind: str, seed: int = 0) -> tuple[object, np.ndarray, object]:
    w = _cells(kind, seed + 1)[seed]
    p = w.patch(PS_UM, OPTICS)
    kn, kp, kh = OPTICS.od_weights(260)
    od = p.na * kn + p.prot * kp + (p.hb * kh if p.hb is not None else 0.0)
    return w, od, p


@pytest.mark.parametrize("kind", PRECLASSES)
def test_every_pre_class_is_drawn_with_a_nucleus_inside_its_cell(kind: str) -> None:
    for seed in range(3):
        w, od, p = _od260(kind, seed)
        assert w.kind == kind and w.dead is None
        assert p.nuc.any() and not (p.nuc & ~p.cell).any()
        assert od[p.nuc].mean() > 0.05  # DNA absorbs at 260 nm


def _nc_ratio(kind: str) -> float:
    return float(
        np.mean([_od260(kind, s)[2].nuc.sum() / _od260(kind, s)[2].cell.sum() for s in range(3)])
    )


def test_a_blast_is_big_with_a_large_nucleus_fine_chromatin_and_nucleoli() -> None:
    w, od, p = _od260("blast")
    assert w.diameter_um >= 12.0 and len(w.nucleoli) >= 2
    assert _nc_ratio("blast") > 0.5 > _nc_ratio("neutrophil")
    assert w.texture_amp < min(c.texture_amp for c in _cells("lymphocyte"))  # open chromatin
    # the basophilic (RNA-rich) cytoplasm absorbs at 260 nm more than a neutrophil's
    n, od_n, pn = _od260("neutrophil")
    assert od[p.cell & ~p.nuc].mean() > od_n[pn.cell & ~pn.nuc].mean()


def test_a_nucleated_red_cell_is_a_small_dense_nucleus_in_haemoglobin() -> None:
    w, od, p = _od260("nrbc")
    assert p.hb is not None and 12.0 < p.hb.sum() * PS_UM**2 < 40.0  # pg of haemoglobin
    cyto = p.cell & ~p.nuc
    assert p.hb[cyto].mean() > 5 * p.hb[p.nuc].mean()  # the haemoglobin is the cytoplasm
    # at 300 nm haemoglobin still absorbs, nucleic acid barely: the cytoplasm shows, as an RBC
    kn, kp, kh = OPTICS.od_weights(300)
    od300 = p.na * kn + p.prot * kp + p.hb * kh
    assert od300[cyto].mean() > 0.03
    assert p.nuc.sum() * PS_UM**2 < 25.0 and od[p.nuc].mean() > 0.6  # condensed nucleus


def test_a_band_has_one_unsegmented_nucleus_and_a_neutrophil_lobes() -> None:
    for seed in range(3):
        _, _, p = _od260("band_neutrophil", seed)
        assert ndimage.label(p.nuc)[1] == 1


def test_plasma_cell_nucleus_is_eccentric_and_has_a_pale_zone() -> None:
    for w in _cells("plasma_cell"):
        (_, ox, oy, rn, *_rest) = w.nucleus[0]
        assert np.hypot(ox, oy) > 0.6 * (w.radius - rn)
        assert w.clear_zone is not None and w.cyto_rna > 0.04


def test_smudge_cell_spreads_its_chromatin_thin_with_no_cytoplasm() -> None:
    _, od, p = _od260("smudge")
    _, od_l, pl = _od260("lymphocyte")
    assert p.nuc.sum() > 0.6 * p.cell.sum()  # the chromatin fills the remnant
    assert od[p.nuc].mean() < 0.5 * od_l[pl.nuc].mean()  # same DNA over a larger area


def _kinds(donor: str, seed: int = 4) -> list[tuple[int, str, float]]:
    slide = VirtualSlide(SimConfig(seed=seed, donor=donor), get_donor(donor), OPTICS)
    return [
        (w.id, w.kind, w.cx)
        for ix in range(75, 105)
        for iy in range(75, 105)
        for w in slide.wbcs(ix, iy)
    ]


@pytest.mark.parametrize(
    ("donor", "kinds", "low", "high"),
    [
        (
            "left-shift",
            ("band_neutrophil", "metamyelocyte", "myelocyte", "promyelocyte"),
            0.12,
            0.35,
        ),
        ("acute-leukaemia-like", ("blast",), 0.18, 0.45),
        ("viral", ("variant_lymphocyte",), 0.05, 0.22),
        ("thalassaemia-like", ("nrbc",), 0.03, 0.15),
    ],
)
def test_donors_carry_their_pre_classes(donor: str, kinds: tuple, low: float, high: float) -> None:
    cells = _kinds(donor)
    share = sum(k in kinds for _, k, _ in cells) / len(cells)
    assert len(cells) > 100 and low <= share <= high, (share, len(cells))


def test_healthy_draws_none_and_sickle_only_replaces_cells_in_place() -> None:
    assert all(k in CLASSES for _, k, _ in _kinds("healthy"))
    sickle = _kinds("sickle")
    # sickle without its nucleated red cells: same places, same five-class kinds
    plain = DonorProfile(
        **{
            **get_donor("sickle").__dict__,
            "wbc_fractions": {
                k: v for k, v in get_donor("sickle").wbc_fractions.items() if k in CLASSES
            },
        }
    )
    slide = VirtualSlide(SimConfig(seed=4, donor="sickle"), plain, OPTICS)
    base = [
        (w.id, w.kind, w.cx)
        for ix in range(75, 105)
        for iy in range(75, 105)
        for w in slide.wbcs(ix, iy)
    ]
    assert [(i, x) for i, _, x in sickle] == [(i, x) for i, _, x in base]
    changed = [(a, b) for (_, a, _), (_, b, _) in zip(sickle, base, strict=True) if a != b]
    assert changed and all(a == "nrbc" for a, _ in changed)
