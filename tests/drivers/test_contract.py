"""One contract per device kind, run against every backend that implements it.

Each kind's promises (what the scan engine and the GUI rely on) are checked against the
simulated device, the serial driver through its wire-level emulator, the pco driver over a
fake of its package, and the Micro-Manager driver on a genuine MMCore with Micro-Manager's
own demo adapters, both as a bare pymmcore core (``mm-demo``) and as pymmcore-plus's
CMMCorePlus (``mm-demo-plus``), and over a fake of pycromanager's ZMQ core (``micromanager``:
Java string vectors and flat image buffers, which no in-process core shows). A backend that
breaks a promise the others keep fails here, whichever test of its own it passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from tests.conftest import FlatWorld
from tests.drivers.conftest import SCALE, apt_soft_limits, focus_config, fw_config, stage_config
from tests.drivers.fake_mm import FakeCore
from tests.drivers.fake_pco import make_module
from tests.drivers.mm_demo import fast_xy, pymmcore_core, pymmcore_plus_core
from uvscope.clock import VirtualClock
from uvscope.config import (
    CameraConfig,
    FilterWheelConfig,
    FocusConfig,
    RigConfig,
    StageConfig,
)
from uvscope.drivers.base import Camera, FilterWheel, FocusAxis, XYStage
from uvscope.drivers.micromanager import MMCamera, MMFilterWheel, MMFocus, MMXYStage
from uvscope.drivers.mm_core import MMSession, settings_from
from uvscope.drivers.pco_camera import PcoCamera
from uvscope.drivers.thorlabs_apt import build_apt_devices
from uvscope.drivers.thorlabs_fw import ThorlabsFilterWheel
from uvscope.errors import ConfigError, DeviceError, LimitError
from uvscope.sim.devices import SimCamera, SimFilterWheel, SimFocusAxis, SimXYStage
from uvscope.sim.emu_apt import EmuAptBBD
from uvscope.sim.emu_fw102c import EmuFW102C

X_LIMITS, Y_LIMITS, Z_LIMITS = (5.0, 105.0), (5.0, 70.0), (100.0, 9000.0)
#: inside the demo Z drive's -300..300 um travel
DEMO_Z_LIMITS = (-250.0, 250.0)
MM = ["micromanager", "mm-demo", "mm-demo-plus"]


def mm_rig(**mm) -> RigConfig:
    return RigConfig.model_validate(
        {
            "camera": {"backend": "micromanager", "width_px": 32, "height_px": 24},
            "filter_wheel": {"backend": "micromanager"},
            "stage": {"backend": "micromanager", "x_limits_mm": X_LIMITS, "y_limits_mm": Y_LIMITS},
            "focus": {"backend": "micromanager", "limits_um": Z_LIMITS},
            "micromanager": {"xy_stage": "XY", "focus": "Z", "filter_wheel": "Wheel", **mm},
        }
    )


def mm_demo_rig() -> RigConfig:
    return RigConfig.model_validate(
        {
            "camera": {"backend": "micromanager"},
            "filter_wheel": {"backend": "micromanager"},
            "stage": {"backend": "micromanager", "x_limits_mm": X_LIMITS, "y_limits_mm": Y_LIMITS},
            "focus": {"backend": "micromanager", "limits_um": DEMO_Z_LIMITS},
            "micromanager": {
                "camera": "Camera",
                "xy_stage": "XY",
                "focus": "Z",
                "filter_wheel": "Emission",
            },
        }
    )


def mm_config(kind: str) -> RigConfig:
    return mm_rig() if kind == "micromanager" else mm_demo_rig()


def mm_session(cfg: RigConfig, kind: str = "micromanager") -> MMSession:
    """A session on the fake ZMQ core, or on a demo core (a 32 x 24 ROI, a fast XY stage)."""
    if kind == "micromanager":
        core = FakeCore()
    else:
        core = pymmcore_core() if kind == "mm-demo" else pymmcore_plus_core()
        fast_xy(core)
        core.setROI(0, 0, 32, 24)
    return MMSession(settings_from(cfg), core_factory=lambda s: core)


@pytest.fixture
def apt_emulator(tmp_path) -> Iterator[EmuAptBBD]:
    with EmuAptBBD(
        link_dir=tmp_path, time_scale=SCALE, soft_limits=apt_soft_limits(), start_homed=True
    ) as emu:
        emu.axes[0x21].position, emu.axes[0x22].position = 1_000_000, 600_000
        emu.axes[0x23].position = 100_000
        yield emu  # type: ignore[misc]


# ---------------------------------------------------------------------- filter wheel


@pytest.fixture(params=["sim", "serial", *MM])
def wheel(request, tmp_path) -> Iterator[FilterWheel]:
    if request.param == "sim":
        dev: FilterWheel = SimFilterWheel(FilterWheelConfig(), VirtualClock())
        with dev:
            yield dev
    elif request.param == "serial":
        with EmuFW102C(link_dir=tmp_path, time_scale=SCALE) as emu:
            with ThorlabsFilterWheel(fw_config(emu.path), timing_scale=SCALE) as dev:
                yield dev
    else:
        cfg = mm_config(request.param)
        with MMFilterWheel(cfg, mm_session(cfg, request.param)) as dev:
            yield dev


def test_wheel_contract(wheel):
    assert wheel.info().kind == "filter_wheel"
    for nm in (280, 300, 260):
        wheel.move_to_wavelength(nm)
        assert wheel.wavelength_nm == nm and wheel.slot == wheel.slot_for(nm)
    wheel.move_to_dark()
    assert wheel.slot == wheel.dark_slot and wheel.wavelength_nm is None
    for bad in (0, wheel.position_count + 1, 1.5):
        with pytest.raises(DeviceError):
            wheel.start_move_to_slot(bad)  # type: ignore[arg-type]
    assert wheel.slot == wheel.dark_slot
    with pytest.raises(ConfigError):
        wheel.slot_for(405)


# ---------------------------------------------------------------------- XY stage


@pytest.fixture(params=["sim", "serial", *MM])
def xy(request, tmp_path) -> Iterator[XYStage]:
    if request.param == "sim":
        cfg = StageConfig(x_limits_mm=X_LIMITS, y_limits_mm=Y_LIMITS)
        with SimXYStage(cfg, VirtualClock(), start_mm=(50.0, 30.0)) as dev:
            yield dev
    elif request.param == "serial":
        emu = request.getfixturevalue("apt_emulator")
        dev, _ = build_apt_devices(stage_config(emu.path), None, timing_scale=SCALE)
        with dev:  # type: ignore[union-attr]
            yield dev  # type: ignore[misc]
    else:
        cfg = mm_config(request.param)
        with MMXYStage(cfg, mm_session(cfg, request.param)) as dev:
            dev.move_to_mm(50.0, 30.0)
            yield dev


def test_xy_stage_contract(xy):
    assert xy.info().kind == "xy_stage"
    assert xy.is_homed() in (True, None)  # homed, or a backend that cannot tell
    xy.move_to_mm(20.0, 15.5)
    assert xy.position_mm() == pytest.approx((20.0, 15.5), abs=1e-4)
    xy.move_by_mm(1.25, -0.5)
    assert xy.position_mm() == pytest.approx((21.25, 15.0), abs=1e-4)
    for bad in ((200.0, 10.0), (20.0, -1.0), (math.nan, 10.0), (20.0, math.inf)):
        with pytest.raises(LimitError):
            xy.move_to_mm(*bad)
    with pytest.raises(LimitError):
        xy.move_by_mm(500.0, 0.0)
    assert xy.position_mm() == pytest.approx((21.25, 15.0), abs=1e-4)  # nothing moved
    xy.start_move_to_mm(30.0, 20.0)
    xy.wait()
    assert xy.position_mm() == pytest.approx((30.0, 20.0), abs=1e-4)
    xy.stop()
    assert set(xy.homed_axes()) == {"x", "y"}


# ---------------------------------------------------------------------- focus


@pytest.fixture(params=["sim", "serial", *MM])
def focus(request, tmp_path) -> Iterator[FocusAxis]:
    if request.param == "sim":
        with SimFocusAxis(FocusConfig(limits_um=Z_LIMITS), VirtualClock(), start_um=5000.0) as z:
            yield z
    elif request.param == "serial":
        emu = request.getfixturevalue("apt_emulator")
        _, z = build_apt_devices(None, focus_config(emu.path), timing_scale=SCALE)
        with z:  # type: ignore[union-attr]
            yield z  # type: ignore[misc]
    else:
        cfg = mm_config(request.param)
        with MMFocus(cfg, mm_session(cfg, request.param)) as z:
            z.move_to_um(sum(cfg.focus.limits_um) / 2)
            yield z


def test_focus_contract(focus):
    assert focus.info().kind == "focus"
    assert focus.is_homed() in (True, None)
    lo, hi = focus.limits_um
    z = round(lo + 0.4 * (hi - lo), 1) + 0.5
    focus.move_to_um(z)
    assert focus.position_um() == pytest.approx(z, abs=0.05)
    focus.move_by_um(-21.5)
    assert focus.position_um() == pytest.approx(z - 21.5, abs=0.05)
    for bad in (hi + 1, lo - 1, math.nan):
        with pytest.raises(LimitError):
            focus.move_to_um(bad)
    assert focus.position_um() == pytest.approx(z - 21.5, abs=0.05)
    focus.stop()


# ---------------------------------------------------------------------- camera


@pytest.fixture(params=["sim", "pco", *MM])
def camera(request) -> Iterator[Camera]:
    if request.param == "sim":
        clock = VirtualClock()
        cfg = CameraConfig(width_px=32, height_px=24, pixel_size_um=0.5, readout_ms=1.0)
        stage = SimXYStage(StageConfig(), clock)
        z = SimFocusAxis(FocusConfig(), clock)
        wheel = SimFilterWheel(FilterWheelConfig(), clock)
        cam: Camera = SimCamera(cfg, clock, FlatWorld(32, 24, 0.5), stage, z, wheel)
    elif request.param == "pco":
        cam = PcoCamera(
            CameraConfig(backend="pco", width_px=32, height_px=24),
            pco_module=make_module(width=32, height=24),
        )
    else:
        cfg = mm_config(request.param)
        cam = MMCamera(cfg, mm_session(cfg, request.param))
    with cam:
        yield cam


def test_camera_contract(camera):
    assert camera.info().kind == "camera"
    lo, hi = camera.exposure_range_ms
    camera.set_exposure_ms(12.5)
    frame = camera.snap()
    assert frame.image.dtype == np.uint16
    assert frame.image.shape == (camera.height_px, camera.width_px) == (24, 32)
    assert frame.meta.exposure_ms == 12.5
    camera.trigger()
    second = camera.read()
    assert second.meta.frame_index > frame.meta.frame_index
    for bad in (hi * 2, lo / 2, math.nan):
        with pytest.raises((ConfigError, LimitError)):
            camera.set_exposure_ms(bad)
    assert camera.exposure_ms == 12.5
    assert camera.pixel_size_um is None or camera.pixel_size_um > 0
