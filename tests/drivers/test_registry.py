"""The backend registry: the drivers room never imports the simulator above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import uvscope.drivers
from uvscope.config import RigConfig
from uvscope.drivers import registry
from uvscope.drivers.rig import build_rig
from uvscope.errors import ConfigError


def test_no_drivers_module_imports_the_simulator():
    for path in Path(uvscope.drivers.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.startswith("uvscope.sim") for n in names), path.name


def test_the_simulator_registers_its_devices_and_its_whole_rig():
    rig = build_rig(RigConfig())
    assert type(rig.stage).__module__ == "uvscope.sim.devices"
    assert registry.rig_builder("sim") is not None
    for kind in ("camera", "filter_wheel", "xy_stage", "focus"):
        assert registry.device_builder(kind, "sim")


def test_an_unknown_backend_is_a_config_error(monkeypatch):
    monkeypatch.setitem(registry.PROVIDERS, "nowhere", "uvscope.no_such_backend")
    with pytest.raises(ConfigError, match="backend 'nowhere' is not available"):
        registry.device_builder("camera", "nowhere")
    with pytest.raises(ConfigError, match="no camera for backend 'serial'"):
        registry.device_builder("camera", "serial")
