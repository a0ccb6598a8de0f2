"""The shipped weights load through the registry and do something sensible on a simulated tile."""

import numpy as np
import pytest

from tests.weights import require_shipped_weights
from uvscope.config import CameraConfig, SimConfig
from uvscope.models.arch import CLASS_NAMES
from uvscope.models.metrics import dice
from uvscope.models.predict import load_classifier, load_segmenter, load_stainer
from uvscope.models.preprocess import bin2x2, composite_crop, contrast_stretch
from uvscope.models.registry import INPUTS, WEIGHTS_DIR, load_model, read_card, sha256_file
from uvscope.sim.world import SimWorld


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_the_registry_trusts_each_shipped_weights_file(kind: str) -> None:
    """Card beside the file, its sha256 matching, every tensor loading into its network."""
    require_shipped_weights(kind)
    path = WEIGHTS_DIR / f"{kind}.safetensors"
    card = read_card(path)
    assert card["kind"] == kind
    assert card["sha256"] == sha256_file(path)
    net, cfg, loaded_card = load_model("default", kind)
    assert loaded_card["sha256"] == card["sha256"]
    assert cfg.pixel_size_um == card["pixel_size_um"]
    assert sum(p.numel() for p in net.parameters()) > 0


@pytest.fixture(scope="module")
def field():
    """A 320 x 320 simulated field around a WBC of a donor not used in training, binned 2x2."""
    world = SimWorld(
        SimConfig(seed=977, donor="random-977"), CameraConfig(width_px=320, height_px=320)
    )
    cx, cy = world.smear_centre_mm()
    cell = next(c for c in world.cells_in_region(cx - 2, cy - 2, cx + 2, cy + 2) if not c.dead)
    x, y = cell.centroid_mm
    t = world.transmission(x, y, world.best_focus_um(x, y), 260)
    gt = world.ground_truth(x, y)
    gray = contrast_stretch(bin2x2(t))
    return gray, gt.cell_labels[::2, ::2], gt.nucleus_labels[::2, ::2], cell


def test_shipped_segmenter_finds_the_cell(field):
    require_shipped_weights("segment")
    gray, cells, nucs, _ = field
    seg = load_segmenter("default", device="cpu")
    assert seg.pixel_size_um == 0.32
    c, n = seg.predict(gray[None])
    assert dice(c[0] >= 0.5, cells > 0) > 0.8
    assert dice(n[0] >= 0.5, nucs > 0) > 0.6


def test_shipped_classifier_outputs(field):
    require_shipped_weights("classify")
    gray, cells, nucs, cell = field
    clf = load_classifier("default", device="cpu")
    ids, counts = np.unique(cells[cells > 0], return_counts=True)
    m = cells == ids[counts.argmax()]
    rr, cc = np.nonzero(m)
    crop = composite_crop(gray, m, m & (nucs > 0), (rr.mean(), cc.mean()), clf.crop_size)
    p_dead, p_class = clf.predict(crop[None])
    # the shipped head names the five parts and every pre-class (uvscope.classes)
    assert clf.classes == CLASS_NAMES and p_class.shape == (1, len(CLASS_NAMES))
    assert np.isclose(p_class.sum(), 1, atol=1e-4)
    assert 0 <= p_dead[0] <= 1


def test_shipped_stainer_outputs(field):
    require_shipped_weights("stain")
    gray, cells, _nucs, _cell = field
    rgb = load_stainer("default", device="cpu").predict(gray[None])
    assert rgb.shape == (1, *gray.shape, 3) and 0 <= rgb.min() and rgb.max() <= 1
    # stained cells are darker than the background
    assert rgb[0][cells > 0].mean() < rgb[0][cells == 0].mean()
