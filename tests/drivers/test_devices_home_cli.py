"""``uvscope devices home`` and ``devices check`` on an unhomed emulated rig."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.drivers.conftest import SCALE
from uvscope.cli import main
from uvscope.config import RigConfig, dump_toml
from uvscope.drivers import apt_protocol as ap
from uvscope.sim.serve import start_emulators


@pytest.fixture
def unhomed(tmp_path):
    """Emulators fresh from power-on (nothing homed) and a rig file pointing at them."""
    with start_emulators(
        link_dir=tmp_path,
        time_scale=SCALE,
        start_homed=False,
        start_mm=(40.0, 30.0),
        start_z_um=5000.0,
    ) as emus:
        rig = RigConfig.model_validate(
            {
                "name": "emulated, unhomed",
                "camera": {"width_px": 64, "height_px": 48, "pixel_size_um": 0.5},
                "filter_wheel": {"backend": "serial", "port": emus.wheel.path},
                "stage": {"backend": "serial", "port": emus.apt.path, "settle_ms": 0.0},
                "focus": {
                    "backend": "serial",
                    "port": emus.apt.path,
                    "settle_ms": 0.0,
                    "limits_um": (1000.0, 9000.0),
                },
            }
        )
        path = tmp_path / "rig.toml"
        path.write_text(dump_toml(rig), encoding="utf-8")
        yield emus, path


def test_check_says_not_homed_with_the_scans_verdict(unhomed):
    emus, path = unhomed
    result = CliRunner().invoke(main, ["devices", "check", "--rig", str(path)])
    assert result.exit_code == 1, result.output
    assert "NOT HOMED: a scan would refuse to move (stage x axis is not homed)" in result.output
    assert f"uvscope devices home --rig {path}" in result.output
    assert "2 of 4 devices OK" in result.output
    assert not emus.apt.frames_of(ap.MOT_MOVE_HOME)  # checking never homes


def test_home_asks_first_and_a_no_moves_nothing(unhomed):
    emus, path = unhomed
    result = CliRunner().invoke(main, ["devices", "home", "--rig", str(path)], input="n\n")
    assert result.exit_code == 1  # aborted
    assert "1. home the focus" in result.output and "2. home stage x and y" in result.output
    assert not emus.apt.frames_of(ap.MOT_MOVE_HOME)


def test_home_all_then_check_is_ok(unhomed):
    emus, path = unhomed
    result = CliRunner().invoke(main, ["devices", "home", "--rig", str(path)], input="y\n")
    assert result.exit_code == 0, result.output
    assert "done: x homed, y homed, z homed" in result.output
    homes = [f.dest for f in emus.apt.frames_of(ap.MOT_MOVE_HOME)]
    assert homes == [0x23, 0x21, 0x22]  # the focus first, out of the way
    check = CliRunner().invoke(main, ["devices", "check", "--rig", str(path)])
    assert check.exit_code == 0, check.output
    assert "4 of 4 devices OK" in check.output


def test_home_one_axis_lowers_a_homed_focus_by_the_clearance_first(unhomed):
    emus, path = unhomed
    emus.apt.axes[0x23].homed = True
    result = CliRunner().invoke(
        main,
        ["devices", "home", "--rig", str(path), "--axis", "x", "--clearance-um", "1500", "--yes"],
    )
    assert result.exit_code == 0, result.output
    assert "lower the focus from 5000.0 um to 3500.0 um" in result.output
    assert "done: x homed, y NOT homed, z homed" in result.output
    assert [f.dest for f in emus.apt.frames_of(ap.MOT_MOVE_HOME)] == [0x21]
    (lower,) = [m for m in emus.apt.requested if m.bay == 0x23]
    assert lower.target == 3500 * 20
    assert emus.apt.axes[0x21].homed and not emus.apt.axes[0x22].homed


def test_home_with_an_unhomed_focus_warns_that_it_cannot_lower_it(unhomed):
    emus, path = unhomed
    result = CliRunner().invoke(
        main, ["devices", "home", "--rig", str(path), "--axis", "y", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert "the focus is not homed, so it cannot be lowered first" in result.output
    assert not [m for m in emus.apt.requested if m.bay == 0x23]
