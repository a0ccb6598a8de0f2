"""Autofocus: metrics, the sweep, the parabola fit, soft limits and abort."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from tests.acquisition._focus_world import TiltedWorld, small_rig
from uvscope.acquisition.autofocus import (
    DEPTH_OF_FIELD_UM,
    METRICS,
    Autofocus,
    SweepSettings,
    parabola_peak,
    sharpness,
    sweep_positions,
)
from uvscope.errors import ConfigError, ScanAborted


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_prefers_the_sharp_image_and_ignores_brightness(name):
    sharp = TiltedWorld(128, 96, 0.5).transmission(43.0, 33.0) * 1000
    soft = gaussian_filter(sharp, 3.0)
    metric = METRICS[name]
    assert metric(sharp) > 1.5 * metric(soft)
    assert metric(3 * sharp) == pytest.approx(metric(sharp), rel=1e-9)


def test_parabola_peak_finds_the_vertex_and_refuses_a_valley():
    z = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert parabola_peak(z, -((z - 3.3) ** 2) + 7) == pytest.approx(3.3)
    assert parabola_peak(z, (z - 3.3) ** 2) is None


def test_sweep_window_is_shifted_then_shrunk_into_the_limits():
    zs, clipped = sweep_positions(5.0, 40.0, 11, (0.0, 100.0))
    assert clipped and zs[0] == 0.0 and zs[-1] == 40.0
    zs, clipped = sweep_positions(50.0, 40.0, 11, (0.0, 30.0))
    assert clipped and zs[0] == 0.0 and zs[-1] == 30.0
    zs, clipped = sweep_positions(50.0, 10.0, 5, (0.0, 100.0))
    assert not clipped and list(zs) == [45.0, 47.5, 50.0, 52.5, 55.0]


def _autofocus(rig, **kw):
    return Autofocus(rig, SweepSettings(**kw), 260, 50.0)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_autofocus_lands_within_a_fraction_of_the_depth_of_field(metric):
    rig, world = small_rig()
    x, y = 44.0, 31.5
    truth = world.surface_z_um(x, y)
    rig.focus.move_to_um(truth + 12.0)  # start well out of focus
    res = _autofocus(rig, metric=metric).run(x, y)
    assert res.found, res.message
    assert abs(res.z_um - truth) < 0.25 * DEPTH_OF_FIELD_UM
    assert rig.focus.position_um() == pytest.approx(res.z_um)
    assert len(res.samples) == 11 + 9


def test_autofocus_on_blank_glass_reports_no_peak_and_returns_to_start():
    rig, world = small_rig()
    rig.focus.move_to_um(5003.0)
    res = _autofocus(rig).run(*world.blank_position_mm())
    assert not res.found and "structure" in res.message
    assert rig.focus.position_um() == 5003.0


def test_sweep_never_asks_past_the_objective_limit():
    # the slide surface (~5000 um) lies above the upper soft limit: the sweep must stop there
    rig, world = small_rig(focus_limits_um=(4900.0, 4995.0))
    rig.focus.move_to_um(4990.0)
    rig.focus.requested.clear()
    res = _autofocus(rig).run(43.0, 33.0)
    assert max(rig.focus.requested) <= 4995.0
    assert res.clipped and not res.found
    assert "edge" in res.message


def test_abort_during_a_sweep_stops_between_frames():
    rig, _ = small_rig()
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 3

    af = Autofocus(rig, SweepSettings(), 260, 50.0, should_stop=should_stop)
    with pytest.raises(ScanAborted):
        af.run(43.0, 33.0)
    assert af.frames == 3


def test_unknown_metric_is_a_config_error():
    rig, _ = small_rig()
    with pytest.raises(ConfigError, match="focus.metric"):
        _autofocus(rig, metric="laplace")


def _field(world, x, z_off, seed=0):
    """A background-normalised frame of ``world`` at (x, 33) mm, ``z_off`` um from focus."""
    z = world.surface_z_um(x, 33.0) + z_off
    raw = world.render(x, 33.0, z, 260, 50.0, np.random.default_rng(seed)).astype(np.float32)
    return (raw - 100) / (60 * 0.5 * 50.0 * world.field)


def test_focus_ratio_barely_depends_on_how_many_cells_are_in_the_field():
    """A quarter of the cells: normalised variance falls by more than half, the ratio by
    less than a quarter (what is left is the cells' packing, not their number)."""
    crowded = TiltedWorld(128, 96, 0.5)
    sparse = TiltedWorld(128, 96, 0.5, sparse_below_x_mm=100.0)
    a, b = sharpness(_field(crowded, 43.0, 0.0)), sharpness(_field(sparse, 43.0, 0.0))
    nv = METRICS["normalised_variance"]
    assert nv(_field(sparse, 43.0, 0.0)) < 0.5 * nv(_field(crowded, 43.0, 0.0))
    assert b.ratio == pytest.approx(a.ratio, rel=0.25)
    assert a.snr > 10 and b.snr > 3


def test_focus_ratio_falls_with_defocus_and_blank_glass_has_no_structure():
    world = TiltedWorld(128, 96, 0.5)
    sharp = sharpness(_field(world, 43.0, 0.0)).ratio
    half = sharpness(_field(world, 43.0, DEPTH_OF_FIELD_UM / 2)).ratio
    one = sharpness(_field(world, 43.0, -DEPTH_OF_FIELD_UM)).ratio
    assert one < 0.7 * sharp < half
    blank = TiltedWorld(128, 96, 0.5, empty_below_x_mm=100.0)
    assert sharpness(_field(blank, 43.0, 0.0)).snr < 0.5
