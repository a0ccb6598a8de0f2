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


def test_colour_ground_truth_matches_the_simulator_and_reads_back_as_own_data(tmp_path):
    """Initial masks from pseudocolour (paper 000, 4.5.1) against the simulator's masks, then
    written as an own-data folder that the training loader accepts as it stands."""
    from uvscope.models.groundtruth import write_ground_truth
    from uvscope.models.metrics import dice
    from uvscope.models.owndata import load_sample, open_own_data

    world = SimWorld(SimConfig(seed=5), CameraConfig(width_px=256, height_px=256))
    cx, cy = world.smear_centre_mm()
    wbcs = [c for c in world.cells_in_region(cx - 1, cy - 1, cx + 1, cy + 1) if c.id][:5]
    cell_d, nuc_d = [], []
    for i, c in enumerate(wbcs):
        x, y = c.centroid_mm
        t = {
            nm: world.transmission(x, y, world.best_focus_um(x, y, nm), nm)
            for nm in (260, 280, 300)
        }
        rgb, _ = pseudocolor_tile(t[260], t[280], t[300])
        gt = world.ground_truth(x, y)
        mask = write_ground_truth(tmp_path / "gt", f"t{i}", t[260], rgb, world.pixel_size_um)
        cell_d.append(dice(mask > 0, gt.cell_labels > 0))
        nuc_d.append(dice(mask == 255, gt.nucleus_labels > 0))
    assert np.median(cell_d) > 0.9 and np.median(nuc_d) > 0.9, (cell_d, nuc_d)
    ds = open_own_data(tmp_path / "gt", model_pixel_size_um=0.32)
    assert ds.modality == "uv260" and ds.pixel_size_um == world.pixel_size_um
    s = load_sample(ds, ds.items[0], 0.32)
    assert s.gray.shape == (128, 128) and (s.cell >= 0.5).any()
