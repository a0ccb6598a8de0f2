"""The Micro-Manager backend where the demo devices cannot show it: pycromanager's ZMQ core
of a running Micro-Manager (faked: Java string vectors and enums, flat image buffers), a
missing package, and settings checked before any core exists. Everything a core does is
tested on a genuine MMCore with Micro-Manager's demo adapters in ``test_mm_real.py`` and
``test_contract.py``."""

from __future__ import annotations

import sys
import types

import pytest

from tests.drivers.fake_mm import FakeCore
from uvscope.config import RigConfig
from uvscope.drivers.micromanager import MMCamera, MMFilterWheel, MMXYStage
from uvscope.drivers.mm_core import (
    MicroManagerSettings,
    MMSession,
    default_core_factory,
    settings_from,
)
from uvscope.errors import ConfigError, DeviceNotFound


def rig(**mm) -> RigConfig:
    return RigConfig.model_validate(
        {
            "camera": {"backend": "micromanager", "width_px": 32, "height_px": 24},
            "filter_wheel": {"backend": "micromanager"},
            "stage": {"backend": "micromanager"},
            "focus": {"backend": "micromanager"},
            "micromanager": mm,
        }
    )


def session(config: RigConfig, core: FakeCore) -> MMSession:
    return MMSession(settings_from(config), core_factory=lambda s: core)


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="spelling"):
        settings_from(rig(prot=4827))
    with pytest.raises(ConfigError, match="mm_app_path"):
        settings_from(rig(mode="headless"))
    s = settings_from(rig(mode="headless", mm_app_path="/opt/mm", config_file="rig.cfg"))
    assert isinstance(s, MicroManagerSettings) and s.port == 4827


def test_camera_snaps_and_reshapes():
    core = FakeCore()
    cfg = rig()
    with MMCamera(cfg, session(cfg, core)) as cam:
        cam.set_exposure_ms(40.0)
        frame = cam.snap()
    assert frame.image.shape == (24, 32) and frame.meta.exposure_ms == 40.0
    assert core.calls == [("set_camera_device", "Cam"), ("set_exposure", 40.0), ("snap_image",)]


def test_filter_group_needs_presets():
    cfg = rig(filter_group="Filter", filter_presets={"260": "UV260"})
    with pytest.raises(ConfigError, match="filter_presets"):
        MMFilterWheel(cfg, session(cfg, FakeCore()))


def test_one_core_shared_and_released():
    made = []
    cfg = rig()
    s = MMSession(settings_from(cfg), core_factory=lambda st: made.append(1) or FakeCore())
    with MMCamera(cfg, s), MMXYStage(cfg, s):
        assert s.core is not None
    assert made == [1] and s.core is None


def test_pycromanager_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycromanager", None)
    with pytest.raises(DeviceNotFound, match="pip install"):
        default_core_factory(MicroManagerSettings())


@pytest.fixture
def no_headless_core(monkeypatch):
    from uvscope.drivers import mm_core

    monkeypatch.setattr(mm_core, "_HEADLESS", {})


def fake_pycromanager(monkeypatch, calls: list) -> None:
    fake = types.ModuleType("pycromanager")
    fake.Core = lambda **kw: calls.append(("Core", kw)) or FakeCore()
    monkeypatch.setitem(sys.modules, "pycromanager", fake)


def test_zmq_mode_asks_for_the_core_on_its_port(monkeypatch, no_headless_core):
    calls = []
    fake_pycromanager(monkeypatch, calls)
    assert isinstance(default_core_factory(MicroManagerSettings(port=5000)), FakeCore)
    assert calls == [("Core", {"port": 5000})]
    with pytest.raises(ConfigError, match="remove mm_app_path"):
        settings_from(rig(mode="zmq", config_file="rig.cfg"))


def test_zmq_after_a_headless_core_is_refused(monkeypatch):
    """pycromanager's Core() hands back a headless core of this process whatever port is
    asked, so a zmq rig would silently drive the wrong Micro-Manager."""
    from uvscope.drivers import mm_core

    monkeypatch.setattr(mm_core, "_HEADLESS", {("/opt/mm", "/opt/mm/a.cfg"): FakeCore()})
    calls = []
    fake_pycromanager(monkeypatch, calls)
    with pytest.raises(ConfigError, match="runs a headless Micro-Manager"):
        default_core_factory(MicroManagerSettings(port=5000))
    assert calls == []


def test_zmq_labels_are_checked_against_java_string_vectors():
    core = FakeCore()
    cfg = rig(xy_stage="XYStage")
    with pytest.raises(ConfigError, match=r"'XYStage' is not a XY stage .*there: XY\b"):
        MMXYStage(cfg, session(cfg, core)).connect()
    cfg = rig(filter_group="Filters", filter_presets={"260": "UV260", "280": "UV280", "300": "UV3"})
    with pytest.raises(ConfigError, match="groups there: Filter"):
        MMFilterWheel(
            cfg.replace(filter_wheel={"backend": "micromanager", "dark_slot": None}),
            session(cfg, core),
        ).connect()
