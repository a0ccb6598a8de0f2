"""The camera model: dark frames, ADC clip, exposure and wavelength power."""

from __future__ import annotations

import numpy as np


def test_dark_frame_is_offset_plus_read_noise(world, rng):
    dark = world.render(40.0, 30.0, 5000.0, None, 50.0, rng).astype(float)
    p = world.optics.sensor
    assert dark.shape == (192, 256)
    assert abs(dark.mean() - p.offset_dn) < 1.0
    assert abs(dark.std() - p.read_noise_e * p.gain_dn_per_e) < 0.5
    # read noise is fresh every frame
    dark2 = world.render(40.0, 30.0, 5000.0, None, 50.0, rng).astype(float)
    assert abs((dark - dark2).std() - np.sqrt(2) * p.read_noise_e * p.gain_dn_per_e) < 0.6


def test_frame_is_uint16_and_clips_at_14_bits(world, rng):
    bx, by = world.blank_position_mm()
    z = world.best_focus_um(bx, by, 280)
    img = world.render(bx, by, z, 280, 500.0, rng)
    assert img.dtype == np.uint16
    assert img.max() == 2**14 - 1
    assert (img == 2**14 - 1).mean() > 0.99


def test_signal_scales_with_exposure_and_power(world, rng):
    bx, by = world.blank_position_mm()
    off = world.optics.sensor.offset_dn

    def signal(nm, exp):
        return world.render(bx, by, world.best_focus_um(bx, by, nm), nm, exp, rng).mean() - off

    s1, s2 = signal(260, 10.0), signal(260, 20.0)
    assert abs(s2 / s1 - 2.0) < 0.05
    # 4.5 mW at 280 nm against 0.14 mW at 260 nm: far more photons
    assert signal(280, 1.0) > 10 * signal(260, 1.0)
    assert signal(300, 10.0) > s1  # 0.22 mW


def test_shot_noise_follows_poisson_statistics(world, rng):
    bx, by = world.blank_position_mm()
    z = world.best_focus_um(bx, by, 260)
    exp = world.suggest_exposure_ms(260, 0.3)
    a = world.render(bx, by, z, 260, exp, rng).astype(float)
    b = world.render(bx, by, z, 260, exp, rng).astype(float)
    p = world.optics.sensor
    mean_e = (0.5 * (a + b) - p.offset_dn) / p.gain_dn_per_e
    var_e = ((a - b) / p.gain_dn_per_e).var() / 2
    expected = mean_e.mean() + p.read_noise_e**2
    assert abs(var_e / expected - 1.0) < 0.1
