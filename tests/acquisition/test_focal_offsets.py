"""Per-wavelength focal offsets: each filter's frame is taken at its own focal plane."""

from __future__ import annotations

import numpy as np
import pytest

from uvscope.acquisition.autofocus import sharpness
from uvscope.acquisition.engine import ScanEngine
from uvscope.config import (
    CameraConfig,
    FocusPlanConfig,
    RegionConfig,
    RigConfig,
    ScanConfig,
    WavelengthConfig,
)
from uvscope.sim.devices import build_sim_rig

NMS = (260, 280, 300)
EXPOSURE = {260: 50.0, 280: 2.0, 300: 40.0}


def _sim_rig():
    return build_sim_rig(
        RigConfig(camera=CameraConfig(width_px=160, height_px=120, pixel_size_um=0.16))
    )


def _scan(world, offsets, focus_nm=None):
    cx, cy = world.smear_centre_mm()
    return ScanConfig(
        region=RegionConfig(center_mm=(cx, cy), rows=1, columns=2),
        wavelengths=tuple(
            WavelengthConfig(nm=n, exposure_ms=EXPOSURE[n], focus_offset_um=offsets.get(n, 0.0))
            for n in NMS
        ),
        focus=FocusPlanConfig(
            mode="fixed", z_um=world.best_focus_um(cx, cy, focus_nm or 260), wavelength_nm=focus_nm
        ),
        background={"frames": 2, "dark_frames": 2},
        save_raw=False,
    )


def _run(tmp_path, offsets, focus_nm=None):
    """Tiles of a 2-tile scan, and the focus position at every exposure by wavelength."""
    rig = _sim_rig()
    world = rig.world
    eng = ScanEngine(rig, _scan(world, offsets, focus_nm), tmp_path / "s")
    z_at = {nm: [] for nm in NMS}
    trigger = rig.camera.trigger

    def spy():
        if rig.filter_wheel.wavelength_nm in z_at and eng.state.name == "RUNNING":
            z_at[rig.filter_wheel.wavelength_nm].append(rig.focus.position_um())
        trigger()

    rig.camera.trigger = spy
    tiles = []
    eng.events.tile_acquired.connect(tiles.append)
    eng.run()
    return rig, eng, tiles, z_at


def _relative_sharpness(rig, eng, tile, nm):
    """The tile's fine detail at ``nm`` over that of the same field at its true best focus."""
    best = rig.world.best_focus_um(tile.x_mm, tile.y_mm, nm)
    raw = rig.world.render(tile.x_mm, tile.y_mm, best, nm, EXPOSURE[nm], np.random.default_rng(5))
    ref = sharpness(eng.backgrounds.normalise(nm, raw)).detail
    return sharpness(tile.normalised[nm]).detail / ref


SHIFT = {260: 0.0, 280: 1.2, 300: 2.4}  # the simulated objective's chromatic focal shift


def test_with_the_right_offsets_every_wavelength_is_as_sharp_as_260(tmp_path):
    rig, eng, tiles, z_at = _run(tmp_path / "on", SHIFT)
    for nm in NMS:
        assert z_at[nm] and all(
            z - zz == pytest.approx(SHIFT[nm]) for z, zz in zip(z_at[nm], z_at[260], strict=True)
        )
        for tile in tiles:
            assert _relative_sharpness(rig, eng, tile, nm) > 0.9
            assert tile.z_um == pytest.approx(z_at[260][0])  # recorded at the focus wavelength
    rig, eng, tiles, _ = _run(tmp_path / "off", {})
    assert all(_relative_sharpness(rig, eng, t, 260) > 0.9 for t in tiles)
    assert all(_relative_sharpness(rig, eng, t, 300) < 0.6 for t in tiles)  # 2.4 um off


def test_offsets_are_relative_to_the_focus_wavelength(tmp_path):
    # focused at 300 nm: 260 and 280 nm frames go down by 2.4 and 1.2 um
    rig, eng, tiles, z_at = _run(tmp_path, SHIFT, focus_nm=300)
    assert [z_at[300][0] - z_at[nm][0] for nm in NMS] == pytest.approx([2.4, 1.2, 0.0])
    for tile in tiles:
        assert _relative_sharpness(rig, eng, tile, 260) > 0.9
        assert tile.z_um == pytest.approx(z_at[300][0])
