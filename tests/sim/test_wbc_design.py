"""make_wbc's design is frozen for fixed seeds: the values below were produced by the code before
it was split into one helper per kind (the simulated training data depends on every draw)."""

from __future__ import annotations

import numpy as np
import pytest

from uvscope.sim.donors import DonorProfile
from uvscope.sim.optics import OpticsParams
from uvscope.sim.wbc import make_wbc

DONORS = [
    DonorProfile(name="a"),
    DonorProfile(name="b", wbc_size_scale=1.1, large_lymphocyte_fraction=0.6),
]

# donor, kind, dead, seed, (radius, nuclear prims, granules, vacuoles, texture seed, large),
# (patch sums of na, prot and scat, cell and nucleus pixels) at 0.4 um per pixel
EXPECTED = [
    (
        0,
        "neutrophil",
        None,
        0,
        (6.586800020308562, 7, 124, 0, 1752032166, False),
        (42.51866444386542, 612.1239251568913, 11.704690036139503, 852, 255),
    ),
    (
        0,
        "neutrophil",
        None,
        1,
        (5.7583710440878715, 5, 100, 0, 1618157079, False),
        (44.351503606376355, 518.9800921753049, 9.885261293001287, 648, 194),
    ),
    (
        0,
        "eosinophil",
        None,
        0,
        (7.121600018052055, 3, 135, 0, 1752032166, False),
        (43.49639367664349, 1750.1962287798524, 56.227412163488594, 1001, 129),
    ),
    (
        0,
        "eosinophil",
        None,
        1,
        (6.385218705855886, 3, 110, 0, 1618157079, False),
        (45.182231159706134, 1564.3361336365342, 51.47439413047896, 806, 120),
    ),
    (
        0,
        "basophil",
        None,
        0,
        (6.336800020308562, 3, 72, 0, 2008052739, False),
        (75.27447434647183, 865.5939870998263, 23.92242167641428, 786, 136),
    ),
    (
        0,
        "basophil",
        None,
        1,
        (5.5083710440878715, 3, 54, 0, 59182745, False),
        (87.3474915130646, 877.5325334370136, 28.13483349670824, 602, 118),
    ),
    (
        0,
        "lymphocyte",
        None,
        0,
        (4.481478337095235, 2, 0, 0, 47463575, False),
        (44.176497605396435, 339.9914263449609, 5.859364603818907, 396, 244),
    ),
    (
        0,
        "lymphocyte",
        None,
        1,
        (4.353391336468724, 1, 0, 0, 267191831, False),
        (45.59147002978716, 338.7448068205267, 5.692895309897869, 376, 252),
    ),
    (
        0,
        "monocyte",
        None,
        0,
        (9.054000045130138, 2, 102, 2, 1566923139, False),
        (53.034071183850756, 996.5246931426227, 14.406550670116147, 1606, 457),
    ),
    (
        0,
        "monocyte",
        None,
        1,
        (7.2130467646397145, 2, 64, 0, 651105938, False),
        (50.11284851297387, 678.8684745803475, 10.359132792399132, 1024, 330),
    ),
    (
        0,
        "neutrophil",
        "pyknotic",
        0,
        (4.652000022565069, 1, 0, 0, 846428920, False),
        (41.397464632289484, 448.0436400696635, 5.483595224746004, 427, 114),
    ),
    (
        0,
        "neutrophil",
        "pyknotic",
        1,
        (3.7315233823198573, 1, 0, 0, 1755663524, False),
        (43.29199535820226, 353.3237519338727, 4.511328174601109, 273, 95),
    ),
    (
        0,
        "lymphocyte",
        "karyorrhexis",
        0,
        (3.9020000225650686, 5, 0, 0, 1566581935, False),
        (41.12251077168912, 346.9647876024246, 5.0446897579231464, 302, 73),
    ),
    (
        0,
        "lymphocyte",
        "karyorrhexis",
        1,
        (2.9815233823198573, 3, 0, 0, 878748454, False),
        (43.18520599862677, 263.0870704948902, 3.6362349275091104, 173, 33),
    ),
    (
        1,
        "lymphocyte",
        None,
        0,
        (4.9296261708047595, 2, 0, 0, 47463575, False),
        (45.05044479877688, 386.03952090628445, 6.44544126078537, 475, 298),
    ),
    (
        1,
        "lymphocyte",
        None,
        1,
        (4.788730470115597, 1, 0, 0, 267191831, False),
        (46.26931985467672, 376.9841932170093, 6.2618080436150425, 452, 303),
    ),
    (
        1,
        "lymphocyte",
        None,
        2,
        (7.025593622700214, 1, 0, 0, 2007792140, True),
        (54.903492526791524, 646.3341081319377, 8.579306410518683, 970, 357),
    ),
    (
        1,
        "lymphocyte",
        None,
        3,
        (6.472437192295696, 1, 6, 0, 840156141, True),
        (48.26420537818922, 541.4994472768158, 8.181583620000168, 828, 365),
    ),
]


@pytest.mark.parametrize("donor, kind, dead, seed, design, sums", EXPECTED)
def test_make_wbc_is_unchanged_for_fixed_seeds(donor, kind, dead, seed, design, sums):
    rng = np.random.default_rng(seed)
    w = make_wbc(rng, seed, kind, dead, 10.0 + seed, -5.0, DONORS[donor])
    radius, n_nucleus, n_granules, n_vacuoles, texture_seed, large = design
    assert w.radius == pytest.approx(radius, rel=1e-12)
    assert (len(w.nucleus), len(w.granules), len(w.vacuoles)) == (
        n_nucleus,
        n_granules,
        n_vacuoles,
    )
    assert (w.texture_seed, w.large) == (texture_seed, large)
    p = w.patch(0.4, OpticsParams())
    got = [float(getattr(p, k).sum(dtype=np.float64)) for k in ("na", "prot", "scat")]
    assert got == pytest.approx(sums[:3], rel=1e-5)
    assert (int(p.cell.sum()), int(p.nuc.sum())) == sums[3:]


def test_make_wbc_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown WBC kind 'nope'"):
        make_wbc(np.random.default_rng(0), 0, "nope", None, 0.0, 0.0, DONORS[0])
