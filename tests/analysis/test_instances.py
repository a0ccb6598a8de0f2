"""Instance formation: one cell per cell, however many lobes its nucleus has."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from uvscope.analysis.postprocess import instances, split_cells
from uvscope.analysis.settings import PostprocessSettings

PX = 0.16
YY, XX = np.mgrid[:320, :320] * PX


def disk(cx: float, cy: float, r: float) -> np.ndarray:
    return (XX - cx) ** 2 + (YY - cy) ** 2 <= r * r


def lobed_neutrophil(cx: float = 25.0, cy: float = 25.0, lobes: int = 4):
    cell = disk(cx, cy, 6.0)
    nuc = np.zeros_like(cell)
    for a in np.linspace(0, 2 * np.pi, lobes + 1)[:-1]:  # lobes ~1.6 um apart at the rim
        nuc |= disk(cx + 2.9 * np.cos(a), cy + 2.9 * np.sin(a), 1.2)
    return cell, nuc


@pytest.mark.parametrize("lobes", [2, 3, 5])
def test_a_lobed_neutrophil_stays_one_cell(lobes: int) -> None:
    cell, nuc = lobed_neutrophil(lobes=lobes)
    assert ndi.label(nuc)[1] == lobes  # the lobes are separate nucleus fragments
    labels = split_cells(cell, nuc, PX, PostprocessSettings())
    assert labels.max() == 1
    assert (labels > 0).sum() == cell.sum()


@pytest.mark.parametrize(("r1", "r2", "d"), [(4.5, 4.5, 6.0), (4.5, 4.5, 8.5), (6.0, 4.0, 9.0)])
def test_two_touching_round_cells_split_in_two(r1: float, r2: float, d: float) -> None:
    a, b = disk(20, 25, r1), disk(20 + d, 25, r2)
    nuc = disk(20, 25, r1 / 2) | disk(20 + d, 25, r2 / 2)
    labels = split_cells(a | b, nuc, PX, PostprocessSettings())
    assert labels.max() == 2
    # each piece holds one cell's centre, and most of that cell
    la, lb = labels[a & ~b], labels[b & ~a]
    assert np.bincount(la).argmax() != np.bincount(lb).argmax()
    assert (la == np.bincount(la).argmax()).mean() > 0.95
    assert (lb == np.bincount(lb).argmax()).mean() > 0.95


def test_splitting_can_be_switched_off() -> None:
    a, b = disk(20, 25, 4.5), disk(27, 25, 4.5)
    nuc = disk(20, 25, 2) | disk(27, 25, 2)
    s = PostprocessSettings(split_min_depth_um=0.0)
    assert split_cells(a | b, nuc, PX, s).max() == 1


def test_a_bump_without_nucleus_is_not_a_cell_of_its_own() -> None:
    body, bump = disk(25, 25, 5.0), disk(31.5, 25, 3.0)  # a pseudopod-like lobe of cytoplasm
    nuc = disk(24, 25, 2.5)
    labels = split_cells(body | bump, nuc, PX, PostprocessSettings())
    assert labels.max() == 1


def test_instances_keep_the_neutrophil_whole_and_its_lobes_labelled() -> None:
    cell, nuc = lobed_neutrophil()
    pair = disk(20, 12, 4.5) | disk(28, 12, 4.5)
    pair_nuc = disk(20, 12, 2.2) | disk(28, 12, 2.2)
    cp = np.where(cell | pair, 0.9, 0.05).astype(np.float32)
    npb = np.where(nuc | pair_nuc, 0.9, 0.05).astype(np.float32)
    # a small lymphocyte nucleus (15 um2) holding a diploid DNA content transmits ~0.1 at 260 nm
    gray = np.where(nuc | pair_nuc, 0.1, np.where(cell | pair, 0.8, 1.0)).astype(np.float32)
    inst = instances(cp, npb, gray, PX, PostprocessSettings(min_solidity=0.0))
    assert inst.count == 3
    lab = inst.cells[int(25 / PX), int(25 / PX)]
    lobes, n = ndi.label(nuc)
    for k in range(1, n + 1):  # every lobe carries the cell's label (the opening trims rims)
        assert set(np.unique(inst.nuclei[lobes == k])) <= {0, lab}
        assert (inst.nuclei[lobes == k] == lab).mean() > 0.8


def test_a_pale_cell_with_a_dark_nucleus_stays_and_pale_debris_goes() -> None:
    """Brightness is judged on the nucleus: a big monocyte averages ~0.82 at 260 nm."""
    big, big_nuc = disk(15, 15, 9.0), disk(15, 15, 3.5)
    blob, blob_nuc = disk(40, 15, 5.0), disk(40, 15, 2.5)
    cp = np.where(big | blob, 0.9, 0.05).astype(np.float32)
    npb = np.where(big_nuc | blob_nuc, 0.9, 0.05).astype(np.float32)
    gray = np.ones(cp.shape, np.float32)
    gray[big], gray[big_nuc] = 0.9, 0.3  # pale cytoplasm, dark nucleus: mean above 0.8
    gray[blob], gray[blob_nuc] = 0.8, 0.7  # no absorbing core: debris
    inst = instances(cp, npb, gray, PX, PostprocessSettings())
    assert inst.count == 1 and inst.cells[int(15 / PX), int(15 / PX)] == 1
    assert inst.removed["nucleus_od"] == 1
