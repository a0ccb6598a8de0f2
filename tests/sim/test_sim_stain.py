"""Giemsa-like ground truth and the three-wavelength pseudocolour."""

from __future__ import annotations

import numpy as np

from uvscope.sim.optics import OpticsParams
from uvscope.sim.stain import pseudocolor, render_stain, unmix


def test_unmixing_recovers_masses():
    o = OpticsParams()
    rng = np.random.default_rng(0)
    m = rng.uniform(0, [0.3, 1.0, 1.0], size=(500, 3)).astype(np.float32)
    ods = [m @ np.array(o.od_weights(nm), np.float32) for nm in (260, 280, 300)]
    na, prot, hb = unmix(*ods, optics=o, ridge=1e-6)
    assert np.allclose(na, m[:, 0], atol=1e-3)
    assert np.allclose(prot, m[:, 1], atol=2e-2)
    assert np.allclose(hb, m[:, 2], atol=5e-3)


def test_stained_nuclei_are_blue_purple_and_rbcs_pink(world, find_cell):
    c = find_cell(world, "lymphocyte")
    gt = world.ground_truth(*c.centroid_mm)
    rgb = gt.stained_rgb.astype(float)
    nuc = rgb[gt.nucleus_labels == c.id].mean(0)
    rbc = rgb[gt.rbc_mask & (gt.cell_labels == 0)].mean(0)
    bg = rgb[(gt.cell_labels == 0) & ~gt.rbc_mask].mean(0)
    assert nuc[2] > nuc[0] and nuc[2] > nuc[1] and nuc.sum() < 0.6 * bg.sum()
    assert rbc[0] > rbc[1] and rbc[0] > 200
    assert bg.min() > 225


def test_pseudocolor_of_true_ods_matches_the_ground_truth_renderer(world, find_cell):
    c = find_cell(world, "neutrophil")
    x, y = c.centroid_mm
    ods = []
    for nm in (260, 280, 300):
        kn, kp, kh = world.optics.od_weights(nm)
        m = world._gt_window(x, y, ("na", "prot", "hb"))
        ods.append(kn * m["na"] + kp * m["prot"] + kh * m["hb"])
    pc = pseudocolor(*ods, optics=world.optics).astype(int)
    gt = world.ground_truth(x, y).stained_rgb.astype(int)
    assert pc.shape == gt.shape and pc.dtype == np.int64
    assert np.abs(pc - gt).mean() < 6


def test_render_stain_of_nothing_is_background():
    z = np.zeros((4, 4), np.float32)
    rgb = render_stain(z, z, z)
    assert rgb.dtype == np.uint8 and (rgb > 235).all()
