"""Segmentation targets at the model's pixel size sit on the binned image's pixels."""

import numpy as np
import tifffile

from uvscope.models.metrics import dice
from uvscope.models.preprocess import bin2x2
from uvscope.models.simdata import TileFiles, coverage, load_tile
from uvscope.models.train_segment import dice_scores


def _disk(shape, r0, c0, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - r0) ** 2 + (xx - c0) ** 2 < radius**2


def test_binned_targets_are_the_masks_coverage_on_the_binned_image_grid(tmp_path):
    cell = _disk((64, 64), 30.3, 33.7, 13)
    nucleus = _disk((64, 64), 29.0, 35.0, 6)
    gray = np.where(cell, 0.5, 1.0).astype(np.float32)
    d = tmp_path / "donor" / "t0"
    d.mkdir(parents=True)
    tifffile.imwrite(d / "norm_260.tif", gray)
    tifffile.imwrite(d / "cell_labels.tif", cell.astype(np.int32))
    tifffile.imwrite(d / "nucleus_labels.tif", nucleus.astype(np.int32))
    t = load_tile(TileFiles("donor", d), 0.16, 0.32).tile
    # the image is 1 - 0.5 x mask, so its binned value is 1 - 0.5 x coverage, pixel for pixel
    assert np.allclose(1.0 - 0.5 * t.cell, bin2x2(gray))
    assert np.array_equal(t.nucleus, coverage(nucleus, 2))
    assert t.cell.sum() * 4 == cell.sum()  # no area gained or lost
    # every other label pixel would sit half a camera pixel off: boundary pixels disagree
    assert not np.array_equal(t.cell >= 0.5, cell[::2, ::2])


def test_dice_scores_take_whole_tiles_of_different_sizes():
    a = np.zeros((2, 32, 48), np.float32)
    a[:, 4:12, 4:12] = 1
    b = np.zeros((2, 16, 16), np.float32)
    b[0, :8, :8] = 1
    pred_b = b.copy()
    pred_b[0, :8, :4] = 0.2  # half the cell missed, nucleus channel empty in both
    s = dice_scores([a, pred_b], [a, b])
    assert s["cell_dice"] == (1.0 + dice(pred_b[0] >= 0.5, b[0] >= 0.5)) / 2 == (1 + 2 / 3) / 2
    assert s["nucleus_dice"] == (1.0 + 1.0) / 2
