import numpy as np
import pytest
from scipy import ndimage

from uvscope.config import CameraConfig, SimConfig
from uvscope.models.pairs import pseudocolor_tile, register_to
from uvscope.sim.world import SimWorld


def test_register_to_recovers_subpixel_shift():
    rng = np.random.default_rng(0)
    ref = ndimage.gaussian_filter(rng.random((96, 96)), 2).astype(np.float32)
    moved = ndimage.shift(ref, (1.3, -2.6), order=3, mode="nearest")
    out, shift = register_to(ref, moved)
    assert shift == pytest.approx((-1.3, 2.6), abs=0.1)
    assert (
        np.abs(out - ref)[10:-10, 10:-10].mean() < 0.2 * np.abs(moved - ref)[10:-10, 10:-10].mean()
    )


def test_pseudocolor_of_simulated_field_resembles_ground_truth():
    world = SimWorld(SimConfig(seed=5), CameraConfig(width_px=160, height_px=160))
    cx, cy = world.smear_centre_mm()
    cell = world.cells_in_region(cx - 1, cy - 1, cx + 1, cy + 1)[0]
    x, y = cell.centroid_mm
    t = {nm: world.transmission(x, y, world.best_focus_um(x, y, nm), nm) for nm in (260, 280, 300)}
    rgb, shifts = pseudocolor_tile(t[260], t[280], t[300])
    assert rgb.shape == (160, 160, 3) and rgb.dtype == np.uint8
    truth = world.ground_truth(x, y).stained_rgb.astype(np.float32)
    err = np.abs(rgb.astype(np.float32) - truth).mean()
    assert err < 0.5 * np.abs(truth - truth.mean((0, 1))).mean()  # far better than a flat colour
