"""Absorbance by wavelength, defocus blur, illumination and normalisation."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from uvscope.sim.world import SimWorld


def _od_at(world: SimWorld, x: float, y: float, nm: int, mask: np.ndarray) -> float:
    t = world.transmission(x, y, world.best_focus_um(x, y, nm), nm)
    return float(np.median(-np.log10(t[mask])))


def test_nucleus_absorbance_falls_with_wavelength_and_rbcs_stay_visible(world, find_cell):
    c = find_cell(world, "lymphocyte")
    x, y = c.centroid_mm
    gt = world.ground_truth(x, y)
    nuc = ndimage.binary_erosion(gt.nucleus_labels == c.id, iterations=4)
    rbc = ndimage.binary_erosion(gt.rbc_mask, iterations=3) & (gt.cell_labels == 0)
    assert nuc.sum() > 200 and rbc.sum() > 200
    od_nuc = [_od_at(world, x, y, nm, nuc) for nm in (260, 280, 300)]
    od_rbc = [_od_at(world, x, y, nm, rbc) for nm in (260, 280, 300)]
    assert od_nuc[0] > od_nuc[1] > od_nuc[2]
    assert 0.2 < od_nuc[0] < 0.8
    assert od_nuc[2] < 0.08  # nucleus nearly invisible at 300 nm
    assert all(od > 0.04 for od in od_rbc)  # haemoglobin absorbs at every wavelength
    assert od_rbc[2] > od_nuc[2]  # 300 nm is close to a pure RBC map


def _sharpness(img: np.ndarray) -> float:
    return float(np.mean(ndimage.sobel(img, 0) ** 2 + ndimage.sobel(img, 1) ** 2))


def test_blur_grows_with_defocus_both_ways(world, find_cell):
    c = find_cell(world, "neutrophil")
    x, y = c.centroid_mm
    z0 = world.best_focus_um(x, y, 260)
    for sign in (1, -1):
        s = [
            _sharpness(world.transmission(x, y, z0 + sign * dz, 260))
            for dz in (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 20.0)
        ]
        assert all(a > b for a, b in zip(s, s[1:], strict=False)), s
    # depth of field about 1.4 um: at 0.7 um most of the sharpness is left, at 3 um little
    s0 = _sharpness(world.transmission(x, y, z0, 260))
    assert _sharpness(world.transmission(x, y, z0 + 0.7, 260)) > 0.4 * s0
    assert _sharpness(world.transmission(x, y, z0 + 3.0, 260)) < 0.25 * s0


def test_best_focus_shifts_with_wavelength(world, find_cell):
    c = find_cell(world, "lymphocyte")
    x, y = c.centroid_mm
    for nm in (280, 300):
        zs = np.linspace(-4, 6, 41) + world.surface_z_um(x, y)
        s = [_sharpness(world.transmission(x, y, z, nm)) for z in zs]
        best = zs[int(np.argmax(s))]
        assert abs(best - world.best_focus_um(x, y, nm)) <= 0.3
        assert best > world.surface_z_um(x, y) + 0.5


def test_surface_is_tilted(world):
    cx, cy = world.smear_centre_mm()
    z = world.surface_z_um(cx, cy)
    assert z == world.sim.focus_z_um
    assert world.surface_z_um(cx + 1, cy) - z > 1.0  # tilt 1.5 um/mm in x
    assert world.surface_z_um(cx, cy + 1) - z < 0.0


def _mean_frame(world, x, y, z, nm, exp, rng, n):
    return np.mean([world.render(x, y, z, nm, exp, rng) for _ in range(n)], axis=0)


def test_normalisation_flattens_a_blank_field(world, rng):
    bx, by = world.blank_position_mm()
    for nm in (260, 280, 300):
        exp = world.suggest_exposure_ms(nm)
        z = world.best_focus_um(bx, by, nm)
        raw = world.render(bx, by, z, nm, exp, rng).astype(np.float64)
        # the illumination itself is far from flat
        assert raw.min() < 0.9 * raw.max()
        bg = _mean_frame(world, bx, by, z, nm, exp, rng, 8)
        dark = _mean_frame(world, bx, by, z, None, exp, rng, 8)
        norm = (raw - dark) / (bg - dark)
        assert abs(norm.mean() - 1.0) < 0.01
        assert norm.std() < 0.03
        smooth = ndimage.uniform_filter(norm, 16)[16:-16, 16:-16]
        assert smooth.max() - smooth.min() < 0.02


def test_normalised_cells_darker_than_background(world, rng, find_cell):
    c = find_cell(world, "lymphocyte")
    x, y = c.centroid_mm
    bx, by = world.blank_position_mm()
    exp = world.suggest_exposure_ms(260)
    z = world.best_focus_um(x, y, 260)
    raw = world.render(x, y, z, 260, exp, rng).astype(float)
    bg = _mean_frame(world, bx, by, world.best_focus_um(bx, by, 260), 260, exp, rng, 4)
    dark = _mean_frame(world, bx, by, z, None, exp, rng, 4)
    norm = (raw - dark) / (bg - dark)
    gt = world.ground_truth(x, y)
    nuc = gt.nucleus_labels == c.id
    empty = (gt.cell_labels == 0) & ~ndimage.binary_dilation(gt.rbc_mask, iterations=8)
    assert np.median(norm[nuc]) < 0.75
    assert abs(np.median(norm[empty]) - 1.0) < 0.04
