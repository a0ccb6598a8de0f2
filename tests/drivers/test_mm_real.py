"""uvscope on a genuine MMCore with Micro-Manager's own demo device adapters.

``pymmcore`` (MMCore) loads ``mm-test-adapters`` (DemoCamera: camera, XY stage, Z drive,
state devices, config groups; device interface 75) from ``MMConfig_demo.cfg``, through
uvscope's headless mode (pycromanager's ``start_headless(..., python_backend=True)``), as a
bare pymmcore core and as pymmcore-plus's ``CMMCorePlus``. The shipped
``rig-micromanager-demo.toml`` is the rig. The fakes in ``fake_mm.py`` stay only for what the
demo adapters cannot show: pycromanager's ZMQ core of a running Micro-Manager (Java objects
over a socket). The contract suite runs on these cores too (``test_contract.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from tests.drivers.mm_demo import (
    adapters,
    demo_config,
    demo_rig,
    need,
    pymmcore_core,
    pymmcore_plus_core,
)
from uvscope.acquisition.live import LiveView
from uvscope.cli import main
from uvscope.config import RigConfig, dump_toml
from uvscope.drivers.factory import build_hardware_rig
from uvscope.drivers.micromanager import MMCamera, MMFilterWheel, MMFocus, MMXYStage
from uvscope.drivers.mm_core import MMSession, plain_signals_unless_qtpy, settings_from
from uvscope.drivers.rig import build_rig
from uvscope.errors import ConfigError, DeviceError, DeviceTimeout


@pytest.fixture(autouse=True)
def _demo_packages():
    adapters()  # skips, saying what to install, without pymmcore + mm-test-adapters
    need("pycromanager")


def session_on(core, cfg: RigConfig) -> MMSession:
    return MMSession(settings_from(cfg), core_factory=lambda s: core)


def write_rig(tmp_path, cfg: RigConfig):
    path = tmp_path / "rig.toml"
    path.write_text(dump_toml(cfg), encoding="utf-8")
    return path


def run_scan(tmp_path, cfg: RigConfig, *extra: str):
    """The shipped ``scan-micromanager-demo.toml`` (2 x 3 tiles around (5, 5) mm) on ``cfg``."""
    scan = resources.files("uvscope.examples").joinpath("scan-micromanager-demo.toml")
    out = tmp_path / "out"
    args = ["scan", "--config", str(scan), "--rig", str(write_rig(tmp_path, cfg))]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return out


def check_tiles(out, shape: tuple[int, int], pixel_size_um: float) -> None:
    """Six raw tiles of the camera's size, labelled with the core's pixel size and the
    stage positions of a 2 x 3 grid around (5, 5) mm read back from the demo XY stage."""
    rows = [json.loads(line) for line in (out / "tiles.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["status"] for r in rows} == {"done"}
    step_mm = shape[1] * pixel_size_um / 1000 * 0.9
    xs = sorted({round(r["x_mm"], 4) for r in rows})
    assert xs == pytest.approx([5.0 - step_mm, 5.0, 5.0 + step_mm], abs=1e-4)
    images = []
    for r in rows:
        with tifffile.TiffFile(out / "raw" / f"tile_{r['index']:05d}_260.ome.tif") as tif:
            images.append(tif.asarray())
            ome = tif.ome_metadata
        assert f'PhysicalSizeX="{pixel_size_um}"' in ome
        assert f'PositionX="{r["x_mm"]}"' in ome
    assert all(im.shape == shape and im.dtype == np.uint16 and im.std() > 0 for im in images)
    assert not np.array_equal(images[0], images[1])  # a fresh demo frame per tile


# ---------------------------------------------------------------------- headless, CLI


def test_devices_check_finds_the_four_demo_devices(tmp_path):
    result = CliRunner().invoke(
        main, ["devices", "check", "--rig", str(write_rig(tmp_path, demo_rig()))]
    )
    assert result.exit_code == 0, result.output
    assert "4 of 4 devices OK" in result.output
    assert "Micro-Manager camera Camera; 512x512 px, 16 bit, exposure 0.1-10000 ms" in result.output
    assert "state device Emission, 10 positions" in result.output


def test_live_view_snaps_fresh_frames():
    rig = build_rig(demo_rig())
    with rig:
        live = LiveView(rig, wavelength_nm=280, exposure_ms=2.0)
        live.start()
        deadline = time.monotonic() + 10
        frames = []
        while time.monotonic() < deadline and len(frames) < 3:
            seq, frame = live.latest_with_seq()
            if frame is not None and (
                not frames or frame.meta.frame_index > frames[-1].meta.frame_index
            ):
                frames.append(frame)
            time.sleep(0.01)
        live.stop()
        assert live.error is None and len(frames) == 3
        assert rig.filter_wheel.wavelength_nm == 280
    assert all(f.image.shape == (512, 512) for f in frames)
    assert not np.array_equal(frames[0].image, frames[2].image)


def test_scan_without_analysis_uses_the_cores_pixel_size(tmp_path):
    cfg = demo_rig(camera={"pixel_size_um": 0.16})  # the core's 1.0 um (10X) wins
    out = run_scan(tmp_path, cfg, "--no-analysis")
    check_tiles(out, (512, 512), 1.0)
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


@pytest.mark.slow
def test_scan_with_analysis_on_binned_demo_frames(tmp_path):
    """Presets set at connect: 4x binning (128 x 128, 8 bit) at 40X, 1.0 um pixels."""
    cfg = demo_rig(micromanager={"presets": {"Camera": "LowRes", "Objective": "40X"}})
    out = run_scan(tmp_path, cfg, "--analysis")
    check_tiles(out, (128, 128), 1.0)
    differential = json.loads((out / "analysis" / "differential.json").read_text())
    assert differential["tiles"]["analysed"] == 6 and differential["tiles"]["failed"] == {}
    stained = sorted((out / "analysis" / "stained").iterdir())
    assert len(stained) == 6 and tifffile.imread(stained[0]).shape[:2] == (128, 128)
    assert (out / "analysis" / "cells.csv").is_file()


def test_headless_reconnect_reloads_the_configuration_into_the_same_core(tmp_path):
    cfg = demo_rig()
    session = MMSession(settings_from(cfg))
    cam = MMCamera(cfg, session)
    with cam:
        core = session.core
        core.set_config("Objective", "40X")
        assert core.get_pixel_size_um() == 0.25
    with cam:  # a reconnect (Rig.reopen): the devices are opened again, as configured
        assert session.core is core and cam.pixel_size_um == 1.0
    other = tmp_path / "other.cfg"
    shutil.copy(demo_config(), other)
    moved = demo_rig(micromanager={"config_file": str(other)})
    with pytest.raises(ConfigError, match="one headless core per process"):
        MMCamera(moved, MMSession(settings_from(moved))).connect()


# ---------------------------------------------------------------------- settings


def test_wheel_takes_any_position_count_from_the_core():
    core = pymmcore_core()
    cfg = demo_rig(filter_wheel={"slots": {"260": 8, "280": 9}, "dark_slot": 10})
    with MMFilterWheel(cfg, session_on(core, cfg)) as wheel:
        assert wheel.position_count == 10
        wheel.move_to_wavelength(280)
        assert core.getStateLabel("Emission") == "State-8"
        wheel.move_to_dark()
        assert core.getState("Emission") == 9 and wheel.wavelength_nm is None
        assert wheel.info().extra["filters"] == {260: "State-7", 280: "State-8"}
    cfg = demo_rig(filter_wheel={"position_count": 6})
    with pytest.raises(ConfigError, match="position_count is 6 but .*Emission has 10 states"):
        MMFilterWheel(cfg, session_on(core, cfg)).connect()
    cfg = demo_rig(filter_wheel={"slots": {"260": 11}})
    with pytest.raises(ConfigError, match=r"260 nm at slot 11 .* 1=Chroma-HQ620, 2=Chroma-D460"):
        MMFilterWheel(cfg, session_on(core, cfg)).connect()


@pytest.mark.parametrize(
    ("field", "label", "listing"),
    [
        ("camera", "Cam", "cameras there: Camera"),
        ("xy_stage", "XYStage", "XY stages there: XY"),
        ("focus", "ZStage", "focus drives there: Z"),
        ("filter_wheel", "Emision", "there: Dichroic, Emission, Excitation, Objective, Path, LED"),
    ],
)
def test_a_wrong_label_names_the_ones_that_exist(field, label, listing):
    cfg = demo_rig(micromanager={field: label})
    rig = build_hardware_rig(cfg, mm_core_factory=lambda s: pymmcore_core())
    device = {"camera": rig.camera, "xy_stage": rig.stage, "focus": rig.focus}.get(
        field, rig.filter_wheel
    )
    with pytest.raises(ConfigError, match=f"micromanager.{field} = '{label}'.*{listing}"):
        device.connect()


def test_filter_group_on_the_demo_channel_presets():
    core = pymmcore_core()
    presets = {"260": "DAPI", "280": "FITC", "300": "Rhodamine"}
    mm = {"filter_wheel": None, "filter_group": "Channel", "filter_presets": presets}
    cfg = demo_rig(micromanager={**mm, "dark_preset": "Cy5"})
    with MMFilterWheel(cfg, session_on(core, cfg)) as wheel:
        wheel.move_to_wavelength(280)
        assert core.getCurrentConfig("Channel") == "FITC"
        assert core.getStateLabel("Emission") == "Chroma-HQ535"  # FITC's emission filter
        assert wheel.wavelength_nm == 280
        wheel.move_to_dark()
        assert core.getCurrentConfig("Channel") == "Cy5" and wheel.wavelength_nm is None
    cfg = demo_rig(micromanager={**mm, "dark_preset": "Closed"})
    with pytest.raises(ConfigError, match="no preset Closed; its presets: Cy5, DAPI, FITC, Rho"):
        MMFilterWheel(cfg, session_on(core, cfg)).connect()
    cfg = demo_rig(micromanager={**mm, "filter_group": "Filters", "dark_preset": "Cy5"})
    with pytest.raises(ConfigError, match="groups there: Camera, Channel, Channel-Multiband"):
        MMFilterWheel(cfg, session_on(core, cfg)).connect()


def test_camera_geometry_bit_depth_and_exposure_limits_come_from_the_core():
    core = pymmcore_core()
    cfg = demo_rig(
        camera={"exposure_max_ms": 100_000.0},
        micromanager={"presets": {"Camera": "LowRes"}},  # binning 4, 8 bit
    )
    with MMCamera(cfg, session_on(core, cfg)) as cam:
        assert (cam.width_px, cam.height_px, cam.bit_depth, cam.pixel_size_um) == (128, 128, 8, 4.0)
        # MMConfig_demo.cfg sets the camera's MaximumExposureMs to 10000
        assert cam.exposure_range_ms == (0.1, 10_000.0)
        with pytest.raises(ConfigError, match="outside the camera's 0.1-10000.0 ms"):
            cam.set_exposure_ms(20_000.0)
        cam.set_exposure_ms(3.0)
        assert core.getExposure() == 3.0
        frame = cam.snap()
        assert frame.image.shape == (128, 128) and frame.image.max() <= 255
    core.setProperty("Camera", "PixelType", "32bitRGB")
    with pytest.raises(ConfigError, match="32-bit colour images; uvscope takes 8- to 16-bit"):
        MMCamera(demo_rig(), session_on(core, demo_rig())).connect()


# ---------------------------------------------------------------------- motion and errors


def test_moves_wait_until_the_core_reports_the_device_idle():
    core = pymmcore_core()  # the demo XY stage: 10 mm/s, busy until it arrives
    cfg = demo_rig()
    with MMXYStage(cfg, session_on(core, cfg)) as xy:
        t0 = time.monotonic()
        xy.start_move_to_mm(2.0, 0.0)
        assert core.deviceBusy("XY")
        xy.wait()
        assert time.monotonic() - t0 >= 0.15 and not core.deviceBusy("XY")
        assert xy.position_mm() == pytest.approx((2.0, 0.0), abs=1e-4)
    cfg = demo_rig(micromanager={"move_timeout_s": 0.05})
    with MMXYStage(cfg, session_on(core, cfg)) as xy:
        with pytest.raises(DeviceTimeout, match="XY stage XY is still moving after 0.05 s"):
            xy.move_to_mm(5.0, 0.0)


def test_errors_of_the_core_arrive_as_device_errors():
    core = pymmcore_core()
    cfg = demo_rig(focus={"limits_um": (-1000.0, 1000.0)})  # wider than the demo's 300 um
    with MMFocus(cfg, session_on(core, cfg)) as z:
        with pytest.raises(DeviceError, match='"Z": Position out of range'):
            z.move_to_um(500.0)
        with pytest.raises(DeviceError, match="Unsupported device command"):
            z.home()
    with MMFilterWheel(cfg, session_on(core, cfg)) as wheel:
        core.unloadDevice("Emission")
        with pytest.raises(DeviceError, match='No device with label "Emission"'):
            wheel.move_to_wavelength(260)


# ---------------------------------------------------------------------- pymmcore-plus


def test_pymmcore_plus_mode_shares_the_core_other_tools_drive(tmp_path):
    """napari-micromanager's core (CMMCorePlus.instance()) with its own settings: uvscope
    drives it as it is instead of reloading the configuration."""
    need("pymmcore_plus")
    plain_signals_unless_qtpy()
    from pymmcore_plus import CMMCorePlus

    shared = CMMCorePlus.instance()
    shared.setDeviceAdapterSearchPaths([adapters()])
    shared.loadSystemConfiguration(demo_config())
    shared.setConfig("Objective", "40X")  # set in the other tool
    mm = {"mode": "pymmcore-plus", "config_file": demo_config()}
    cfg = demo_rig(micromanager=mm)
    rig = build_rig(cfg)
    with rig:
        assert rig.camera.pixel_size_um == 0.25
        rig.filter_wheel.move_to_wavelength(300)
        assert shared.getState("Emission") == 2
    out = run_scan(tmp_path, cfg, "--no-analysis")
    check_tiles(out, (512, 512), 0.25)
    no_config = demo_rig(micromanager={"mode": "pymmcore-plus"})
    with build_rig(no_config) as rig:  # the configuration the core already has
        assert rig.stage.info().model == "Micro-Manager XY stage XY"


def test_any_core_object_goes_in_through_the_factory():
    core = pymmcore_plus_core()
    rig = build_hardware_rig(demo_rig(), mm_core_factory=lambda s: core)
    with rig:
        rig.stage.move_to_mm(0.5, 0.25)
        assert core.getXYPosition("XY") == pytest.approx((500.0, 250.0), abs=0.01)
        rig.focus.move_to_um(12.5)
        assert core.getPosition("Z") == 12.5


_UNDER_QT = """
import sys
from PySide6.QtWidgets import QApplication
from tests.drivers.mm_demo import demo_config, demo_rig
from uvscope.drivers.rig import build_rig

app = QApplication([])
cfg = demo_rig(micromanager={"mode": "pymmcore-plus", "config_file": demo_config()})
with build_rig(cfg) as rig:
    rig.filter_wheel.move_to_wavelength(280)
print("wheel moved")
"""


def test_pymmcore_plus_mode_works_beside_a_running_qt_application(tmp_path):
    """uvscope's GUI runs a QApplication; pymmcore-plus then picks Qt signals, which need
    qtpy (not a uvscope dependency): the core must still be made, with psygnal events."""
    need("pymmcore_plus")
    pytest.importorskip("PySide6", reason="needs the gui extra (PySide6)")
    env = {k: v for k, v in os.environ.items() if k != "PYMM_SIGNALS_BACKEND"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_QT],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wheel moved" in done.stdout
