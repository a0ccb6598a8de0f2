"""A nucleus is judged by the DNA it holds (integrated optical density), not by how dark it is.

Transmissions follow Beer-Lambert at 260 nm as the simulator draws them: a diploid nucleus
integrates to ~15 OD um2 whatever its size, a red cell to ~6, a karyorrhectic cell's dark
fragments to 5-11.
"""

from __future__ import annotations

import numpy as np

from uvscope.analysis.postprocess import instances, nucleus_od_um2
from uvscope.analysis.settings import PostprocessSettings

PX = 0.16
YY, XX = np.mgrid[:400, :400] * PX
OLD_RULES = PostprocessSettings(
    min_cell_area_um2=30.0,
    min_nucleus_area_um2=4.0,
    nucleus_opening_radius_um=0.8,
    min_nucleus_od_um2=0.0,
    pale_nucleus_min_od_um2=1e9,  # every pale nucleus dropped, as before
    split_min_nucleus_od_um2=0.0,
)


def disk(cx: float, cy: float, r: float) -> np.ndarray:
    return (XX - cx) ** 2 + (YY - cy) ** 2 <= r * r


def _field(objects: list[tuple[np.ndarray, np.ndarray, float, float]]):
    """Network-like probabilities and a transmission image: (cell, nucleus, T cell, T nucleus)."""
    cp = np.full(XX.shape, 0.02, np.float32)
    npb = np.full(XX.shape, 0.02, np.float32)
    gray = np.ones(XX.shape, np.float32)
    for cell, nuc, t_cell, t_nuc in objects:
        cp[cell], npb[nuc] = 0.95, 0.95
        gray[cell], gray[nuc] = t_cell, t_nuc
    return cp, npb, gray


def _monocyte() -> tuple[np.ndarray, np.ndarray, float, float]:
    # 16 um cell, 69 um2 nucleus transmitting 0.6: ~15 OD um2, the DNA of any nucleus
    return disk(12, 12, 8.0), disk(12, 12, 4.7), 0.9, 0.6


def _karyorrhexis() -> tuple[np.ndarray, np.ndarray, float, float]:
    frags = disk(40, 10, 0.75) | disk(42, 11, 0.75) | disk(41, 13, 0.75) | disk(39, 12.5, 0.75)
    return disk(41, 11.5, 3.3), frags, 0.88, 0.05


def _red_cell() -> tuple[np.ndarray, np.ndarray, float, float]:
    # a red cell proposed as a nucleated cell: its "nucleus" is haemoglobin, T 0.74
    return disk(12, 40, 3.9), disk(12, 40, 3.5), 0.74, 0.74


def test_a_nucleus_integrates_its_absorbance_over_its_area() -> None:
    cell, nuc, _, t = _monocyte()
    gray = np.where(nuc, t, 1.0).astype(np.float32)
    expected = -np.log10(t) * nuc.sum() * PX * PX
    assert abs(nucleus_od_um2(gray, nuc, PX) - expected) < 1e-3
    assert 14 < expected < 17  # a whole nucleus
    gray[nuc] = -0.01  # sensor noise below zero: capped at OD 2, never infinite
    assert np.isfinite(nucleus_od_um2(gray, nuc, PX))


def test_a_pale_monocyte_and_a_dead_cell_stay_and_a_red_cell_goes() -> None:
    objects = [_monocyte(), _karyorrhexis(), _red_cell()]
    cp, npb, gray = _field(objects)
    inst = instances(cp, npb, gray, PX, PostprocessSettings())
    assert inst.count == 2, inst.removed
    assert inst.cells[int(12 / PX), int(12 / PX)] > 0  # the monocyte
    assert inst.cells[int(11.5 / PX), int(41 / PX)] > 0  # the karyorrhectic cell
    assert inst.cells[int(40 / PX), int(12 / PX)] == 0  # the red cell
    assert inst.removed["nucleus_intensity"] == 1
    # the old rules dropped both cells and kept out the red cell
    old = instances(cp, npb, gray, PX, OLD_RULES)
    assert old.count == 0, old.removed


def test_a_speck_without_dna_inside_a_cell_mask_is_no_nucleus() -> None:
    speck = disk(30, 30, 1.0)
    cp, npb, gray = _field([(disk(30, 30, 4.0), speck, 0.8, 0.7)])  # a platelet clump
    inst = instances(cp, npb, gray, PX, PostprocessSettings())
    assert inst.count == 0 and inst.removed["nucleus_od"] == 1


def test_a_split_piece_must_hold_a_nucleus() -> None:
    """Two touching bodies: two cells when each holds a nucleus's DNA, one cell (a notched
    neutrophil) when each holds half."""
    a, b = disk(20, 25, 4.5), disk(27, 25, 4.5)
    na, nb = disk(20, 25, 2.2), disk(27, 25, 2.2)  # 15 um2 each
    for t_nuc, cells in ((0.1, 2), (0.4, 1)):  # ~15 OD um2 each, or ~6
        cp, npb, gray = _field([(a, na, 0.8, t_nuc), (b, nb, 0.8, t_nuc)])
        inst = instances(cp, npb, gray, PX, PostprocessSettings(min_solidity=0.0))
        assert inst.count == cells, (t_nuc, inst.removed)
