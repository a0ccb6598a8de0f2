"""Small simulated worlds shared by the simulator tests (kept small so the suite stays fast)."""

from __future__ import annotations

import numpy as np
import pytest

from uvscope.config import CameraConfig, SimConfig
from uvscope.sim.world import SimWorld


@pytest.fixture(scope="module")
def world() -> SimWorld:
    return SimWorld(SimConfig(seed=3), CameraConfig(width_px=256, height_px=192))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _find_cell(world: SimWorld, kind: str, dead: bool = False):
    cx, cy = world.smear_centre_mm()
    for half in (0.5, 1.0, 2.0, 4.0):
        for c in world.cells_in_region(cx - half, cy - half, cx + half, cy + half):
            if c.kind == kind and c.dead == dead:
                return c
    raise AssertionError(f"no {kind} found")


@pytest.fixture(scope="module")
def find_cell():
    """find_cell(world, kind, dead=False): a WBC of ``kind`` near the smear centre."""
    return _find_cell
