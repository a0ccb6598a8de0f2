"""The Micro-Manager backend against a fake Core with pycromanager's method names."""

from __future__ import annotations

import sys

import pytest

from tests.drivers.fake_mm import FakeCore
from uvscope.config import RigConfig
from uvscope.drivers.micromanager import (
    MicroManagerSettings,
    MMCamera,
    MMFilterWheel,
    MMFocus,
    MMSession,
    MMXYStage,
    default_core_factory,
    settings_from,
)
from uvscope.errors import ConfigError, DeviceNotFound, LimitError


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


def test_stage_and_focus_convert_units_and_keep_limits():
    core = FakeCore()
    cfg = rig(xy_stage="XY", focus="Z")
    s = session(cfg, core)
    with MMXYStage(cfg, s) as xy, MMFocus(cfg, s) as z:
        xy.move_to_mm(12.5, 30.0)
        assert ("set_xy_position", "XY", 12500.0, 30000.0) in core.calls
        assert xy.position_mm() == (12.5, 30.0)
        z.move_to_um(4321.0)
        assert core.calls[-2:] == [("set_position", "Z", 4321.0), ("wait_for_device", "Z")]
        n = len(core.calls)
        with pytest.raises(LimitError):
            xy.move_to_mm(500.0, 0.0)
        with pytest.raises(LimitError):
            z.move_to_um(float("nan"))
        assert len(core.calls) == n


def test_filter_state_device():
    core = FakeCore()
    cfg = rig(filter_wheel="Wheel")
    with MMFilterWheel(cfg, session(cfg, core)) as wheel:
        wheel.move_to_wavelength(280)
        assert ("set_state", "Wheel", 1) in core.calls
        assert wheel.slot == 2 and wheel.wavelength_nm == 280


def test_filter_config_group():
    core = FakeCore()
    cfg = rig(
        filter_group="Filter",
        filter_presets={"260": "UV260", "280": "UV280", "300": "UV300"},
        dark_preset="Block",
    )
    with MMFilterWheel(cfg, session(cfg, core)) as wheel:
        wheel.move_to_wavelength(300)
        assert ("set_config", "Filter", "UV300") in core.calls
        assert wheel.wavelength_nm == 300
        wheel.move_to_dark()
        assert core.configs["Filter"] == "Block"


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
    from uvscope.drivers import micromanager

    monkeypatch.setattr(micromanager, "_HEADLESS", {})


def test_headless_path_calls_start_headless(monkeypatch, no_headless_core):
    import types

    calls = []
    fake = types.ModuleType("pycromanager")
    fake.start_headless = lambda app, cfg, python_backend: calls.append((app, cfg, python_backend))
    fake.Core = lambda **kw: calls.append(("Core", kw)) or FakeCore()
    monkeypatch.setitem(sys.modules, "pycromanager", fake)
    core = default_core_factory(
        MicroManagerSettings(mode="headless", mm_app_path="/opt/mm", config_file="uv.cfg")
    )
    assert isinstance(core, FakeCore)
    assert calls == [("/opt/mm", "uv.cfg", True), ("Core", {})]
    default_core_factory(MicroManagerSettings(port=5000))
    assert calls[-1] == ("Core", {"port": 5000})


def test_headless_reconnect_keeps_one_core_and_reloads_its_devices(monkeypatch, no_headless_core):
    import types

    calls = []
    first = FakeCore()
    first.load_system_configuration = lambda cfg: calls.append(("load", cfg))
    fake = types.ModuleType("pycromanager")
    fake.start_headless = lambda app, cfg, python_backend: calls.append(("start", cfg))
    fake.Core = lambda **kw: first  # pycromanager: the process's first core, always
    monkeypatch.setitem(sys.modules, "pycromanager", fake)
    cfg = rig(mode="headless", mm_app_path="/opt/mm", config_file="uv.cfg")
    session = MMSession(settings_from(cfg))
    cam = MMCamera(cfg, session)
    cam.connect()
    cam.close()  # the last user gone: the session lets go of the core
    cam.connect()  # a reconnect (Rig.reopen)
    assert session.core is first
    assert calls == [("start", "uv.cfg"), ("load", "uv.cfg")]
    cam.close()
    other = settings_from(rig(mode="headless", mm_app_path="/opt/mm", config_file="other.cfg"))
    with pytest.raises(ConfigError, match="one headless core per process"):
        default_core_factory(other)


def test_camera_geometry_and_pixel_size_come_from_the_core():
    core = FakeCore(width=40, height=30)
    core.get_pixel_size_um = lambda: 0.32  # calibrated in Micro-Manager (binning included)
    cfg = rig()
    with MMCamera(cfg, session(cfg, core)) as cam:
        assert (cam.width_px, cam.height_px, cam.pixel_size_um) == (40, 30, 0.32)
        assert cam.snap().image.shape == (30, 40)
    core.get_pixel_size_um = lambda: 0.0  # not calibrated: the rig file's value holds
    with MMCamera(cfg, session(cfg, core)) as cam:
        assert cam.pixel_size_um is None
