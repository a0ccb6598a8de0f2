"""Micro-Manager's own demo devices on a genuine MMCore, for the tests that drive them.

``mm-test-adapters`` ships Micro-Manager's demo device adapters (DemoCamera, Utilities) for
Linux with ``MMConfig_demo.cfg``; ``pymmcore`` is the MMCore they load into. Both must speak
the same device interface (75), as the ``test`` extra pins them. Without them these tests
skip with a message saying what to install.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from typing import Any

import pytest

from uvscope.config import RigConfig
from uvscope.drivers.mm_core import plain_signals_unless_qtpy

INSTALL = 'pip install -e ".[micromanager-demo]" (pymmcore, mm-test-adapters, pycromanager)'


def need(module: str) -> Any:
    """Import ``module`` or skip the test saying what to install."""
    return pytest.importorskip(module, reason=f"{module} is not installed: {INSTALL}")


def adapters() -> str:
    """The demo adapter folder, after checking that its device interface is pymmcore's."""
    pymmcore = need("pymmcore")
    mm_test_adapters = need("mm_test_adapters")
    core_di = pymmcore.__version__.split(".")[3]
    adapters_di = mm_test_adapters.__version__.split(".")[0]
    if core_di != adapters_di:
        pytest.skip(
            f"pymmcore speaks device interface {core_di}, mm-test-adapters {adapters_di}: "
            "install matching versions (see the test extra in pyproject.toml)"
        )
    return str(mm_test_adapters.device_adapter_path())


def demo_config() -> str:
    return os.path.join(adapters(), "MMConfig_demo.cfg")


def fast_xy(core: Any) -> None:
    """The demo XY stage moves at 10 mm/s (its Velocity property, um/ms); 20x that keeps a
    test's 50 mm of travel short while each move still reports busy until it is done."""
    set_property = getattr(core, "setProperty", None) or core.set_property
    set_property("XY", "Velocity", "200")


def pymmcore_core() -> Any:
    """A bare pymmcore CMMCore (camelCase API) with the demo configuration loaded."""
    pymmcore = need("pymmcore")
    core = pymmcore.CMMCore()
    core.setDeviceAdapterSearchPaths([adapters()])
    core.loadSystemConfiguration(demo_config())
    return core


def pymmcore_plus_core() -> Any:
    """A pymmcore-plus CMMCorePlus (napari-micromanager's core) with the demo loaded."""
    need("pymmcore_plus")
    plain_signals_unless_qtpy()
    from pymmcore_plus import CMMCorePlus

    core = CMMCorePlus(adapter_paths=[adapters()])
    core.loadSystemConfiguration(demo_config())
    return core


def demo_rig(**changes: Any) -> RigConfig:
    """The shipped ``rig-micromanager-demo.toml`` with ``changes`` per section."""
    text = resources.files("uvscope.examples").joinpath("rig-micromanager-demo.toml").read_text()
    data = tomllib.loads(text)
    for section, values in changes.items():
        data[section] = {**data.get(section, {}), **values}
    return RigConfig.model_validate(data)
