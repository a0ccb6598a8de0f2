"""The simulator stays inside a memory budget for any parameter the config accepts."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from uvscope.config import CameraConfig, SimConfig
from uvscope.errors import ConfigError
from uvscope.sim.world import SimWorld

CAM = CameraConfig(width_px=160, height_px=120, pixel_size_um=0.5)


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_extreme_defocus_renders_in_bounded_memory() -> None:
    world = SimWorld(SimConfig(), CAM)
    rng = np.random.default_rng(0)
    x, y = world.smear_centre_mm()
    world.render(x, y, world.surface_z_um(x, y), 260, 50.0, rng)  # warm the caches
    peak = _peak_mb(lambda: world.render(x, y, 4000.0, 260, 50.0, rng))
    # a 160 x 120 field: the blurred window is at most 3 fields a side (+ raster tiles)
    assert peak < 60, peak
    far = world.transmission(x, y, 1000.0, 260)
    assert far.shape == (120, 160) and float(far.std()) < 0.05 * float(far.mean())


def test_far_from_the_slide_is_clear_glass_and_costs_nothing() -> None:
    world = SimWorld(SimConfig(), CAM)
    before = len(world.slide._tiles)
    t = world.transmission(500.0, -300.0, 5000.0, 260)
    assert len(world.slide._tiles) == before  # nothing rasterised, nothing cached
    np.testing.assert_allclose(t, 1.0, rtol=1e-5)


def test_too_many_blank_regions_are_refused_at_once() -> None:
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="sim.blank_regions"):
        SimWorld(SimConfig(blank_regions=10**8), CAM)
    assert time.monotonic() - t0 < 5


def test_a_huge_camera_is_refused() -> None:
    with pytest.raises(ConfigError, match="camera.width_px"):
        SimWorld(SimConfig(), CameraConfig(width_px=100_000, height_px=100_000))
