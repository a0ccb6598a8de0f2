from __future__ import annotations

import numpy as np
from skimage.draw import disk as draw_disk

from uvscope.analysis.cells import decide
from uvscope.analysis.postprocess import clean_masks, instances
from uvscope.analysis.settings import CheckpointSettings, PostprocessSettings

PX = 0.16  # um


def _blank(shape: tuple[int, int] = (160, 200)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(shape, np.float32), np.zeros(shape, np.float32), np.ones(shape, np.float32)


def _cell(cell, nuc, img, rc, r_cell, r_nuc, nuc_offsets=((0, 0),)) -> None:
    rr, cc = draw_disk(rc, r_cell, shape=cell.shape)
    cell[rr, cc] = 1.0
    img[rr, cc] = 0.7
    for dr, dc in nuc_offsets:
        rr, cc = draw_disk((rc[0] + dr, rc[1] + dc), r_nuc, shape=cell.shape)
        nuc[rr, cc] = 1.0
        img[rr, cc] = 0.1  # a nucleus absorbs: DNA at 260 nm


def test_cells_without_nucleus_and_nuclei_without_cell_are_removed() -> None:
    cell, nuc, img = _blank()
    _cell(cell, nuc, img, (50, 50), 30, 14)
    rr, cc = draw_disk((50, 150), 30)  # a cell without nucleus
    cell[rr, cc] = 1.0
    rr, cc = draw_disk((130, 150), 12)  # a nucleus without cell
    nuc[rr, cc] = 1.0
    c, n = clean_masks(cell, nuc, PX, PostprocessSettings())
    assert c[50, 50] and not c[50, 150]
    assert n[50, 50] and not n[130, 150]


def test_opening_removes_specks_and_area_threshold_removes_small_cells() -> None:
    cell, nuc, img = _blank()
    _cell(cell, nuc, img, (60, 60), 30, 14)
    cell[5:8, 190:193] = nuc[5:8, 190:193] = 1.0  # 3-pixel speck
    _cell(cell, nuc, img, (120, 160), 12, 7)  # ~11 um2: below min_cell_area_um2 = 20
    inst = instances(cell, nuc, img, PX, PostprocessSettings())
    assert inst.count == 1
    assert inst.cells[60, 60] == 1 and inst.cells[6, 191] == 0
    assert inst.removed["area"] == 1


def test_touching_cells_are_split_and_lobed_nucleus_is_not() -> None:
    cell, nuc, img = _blank((160, 260))
    _cell(cell, nuc, img, (80, 70), 40, 14)
    _cell(cell, nuc, img, (80, 145), 40, 14)  # overlaps the first: one blob, two nuclei
    _cell(cell, nuc, img, (80, 215), 30, 6, nuc_offsets=((-8, -8), (6, 10), (10, -6)))  # lobes
    s = PostprocessSettings(min_solidity=0.5, max_cell_area_um2=2000)
    inst = instances(cell, nuc, img, PX, s)
    assert inst.count == 3
    assert inst.cells[80, 70] != inst.cells[80, 145]
    lobes = {inst.nuclei[72, 207], inst.nuclei[86, 225], inst.nuclei[90, 209]}
    assert len(lobes) == 1 and 0 not in lobes


def test_solidity_euler_and_intensity_thresholds() -> None:
    cell, nuc, img = _blank((160, 300))
    _cell(cell, nuc, img, (80, 50), 35, 12)  # fine
    _cell(cell, nuc, img, (80, 150), 35, 12)
    rr, cc = draw_disk((95, 160), 5)
    cell[rr, cc] = 0.0  # a hole -> Euler number 0
    _cell(cell, nuc, img, (80, 250), 35, 12)
    rr, cc = draw_disk((80, 250), 35)
    img[rr, cc] = 0.99  # nearly transparent (a ghost)
    s = PostprocessSettings(min_euler_number=1)
    inst = instances(cell, nuc, img, PX, s)
    assert inst.count == 1 and inst.cells[80, 50] == 1
    assert inst.removed["euler"] == 1 and inst.removed["intensity"] == 1
    c_shape = np.zeros((160, 300), np.float32)
    rr, cc = draw_disk((80, 80), 40, shape=c_shape.shape)
    c_shape[rr, cc] = 1
    rr, cc = draw_disk((80, 105), 32, shape=c_shape.shape)
    c_shape[rr, cc] = 0  # a crescent: low solidity
    n_shape = np.zeros_like(c_shape)
    n_shape[72:88, 45:58] = 1
    s2 = PostprocessSettings(min_solidity=0.9)
    inst2 = instances(c_shape, n_shape, np.full_like(c_shape, 0.6), PX, s2)
    assert inst2.count == 0 and inst2.removed["solidity"] == 1


def test_checkpoint_rescues_healthy_looking_dead_calls() -> None:
    s = CheckpointSettings()
    p = np.array([0.1, 0.7, 0.1, 0.05, 0.05])
    assert decide(0.2, p, 80, 30, 1, 0.6, s) == ("eosinophil", False, False)
    assert decide(0.9, p, 80, 30, 1, 0.6, s) == ("eosinophil", False, True)  # rescued
    assert decide(0.9, p, 20, 10, 1, 0.6, s) == ("dead", True, False)  # too small
    assert decide(0.9, p, 80, 30, -2, 0.6, s) == ("dead", True, False)  # fragmented
    assert decide(0.9, p, 80, 30, 1, 0.6, CheckpointSettings(enabled=False))[1] is True
    # auto: not applied when the classifier brings its own checkpoint
    assert decide(0.9, p, 80, 30, 1, 0.6, s, checkpoint=False)[1] is True
    assert (
        decide(0.9, p, 80, 30, 1, 0.6, CheckpointSettings(enabled=True), checkpoint=False)[1]
        is False
    )
