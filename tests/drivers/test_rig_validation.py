"""Rig sections are validated for their backend: a setting of another backend is an error."""

from __future__ import annotations

import re

import pytest

from uvscope.config import RigConfig, load_rig, parse_model
from uvscope.errors import ConfigError


@pytest.mark.parametrize(
    "section, values, named",
    [
        ("camera", {"interface": "GigE"}, "interface (a pco setting)"),
        ("camera", {"binning": [2, 2]}, "binning (a pco setting)"),
        ("filter_wheel", {"port": "/dev/ttyUSB0"}, "port (a serial setting)"),
        ("stage", {"home_on_connect": True, "x_bay": 0x24}, "x_bay (a serial setting)"),
        ("focus", {"bay": 0x50}, "bay (a serial setting)"),
    ],
)
def test_a_simulated_device_given_another_backends_setting_is_refused(section, values, named):
    with pytest.raises(ConfigError, match=rf"{section}: backend is 'sim'.*{re.escape(named)}"):
        parse_model(RigConfig, {section: values}, "rig.toml")


def test_the_same_settings_are_fine_for_their_backend():
    rig = parse_model(
        RigConfig,
        {
            "camera": {"backend": "pco", "interface": "GigE", "binning": [2, 2]},
            "filter_wheel": {"backend": "serial", "port": "/dev/ttyUSB0"},
            "stage": {"backend": "serial", "x_bay": 0x24},
            "focus": {"backend": "serial", "bay": 0x50},
        },
        "rig.toml",
    )
    assert rig.camera.interface == "GigE" and rig.focus.bay == 0x50
    assert rig.replace(name="copy").camera.interface == "GigE"  # defaults never count


def test_a_micromanager_device_refuses_a_serial_port(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text('[stage]\nbackend = "micromanager"\nport = "/dev/ttyUSB0"\n')
    with pytest.raises(ConfigError, match="backend is 'micromanager'.*port"):
        load_rig(path)
