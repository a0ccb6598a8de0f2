"""Whole rigs through the real serial drivers against the emulators: build, check, scan."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from tests.conftest import FlatWorld
from tests.drivers.conftest import SCALE
from tests.drivers.fake_pco import make_module
from uvscope.acquisition.prepare import run_scan
from uvscope.cli import main
from uvscope.config import RegionConfig, RigConfig, ScanConfig, WavelengthConfig, dump_toml
from uvscope.drivers.factory import build_hardware_rig
from uvscope.drivers.rig import build_rig
from uvscope.drivers.thorlabs_apt import AptFocus, AptXYStage
from uvscope.drivers.thorlabs_fw import ThorlabsFilterWheel
from uvscope.sim.serve import soft_limits_counts, start_emulators


def emulated_rig(emus, camera_backend: str = "sim") -> RigConfig:
    return RigConfig.model_validate(
        {
            "name": "emulated",
            "camera": {
                "backend": camera_backend,
                "width_px": 64,
                "height_px": 48,
                "pixel_size_um": 0.5,
                "readout_ms": 1.0,
            },
            "filter_wheel": {"backend": "serial", "port": emus.wheel.path, "reply_timeout_s": 0.3},
            "stage": {
                "backend": "serial",
                "port": emus.apt.path,
                "home_on_connect": True,
                "settle_ms": 0.0,
                "x_limits_mm": (20.0, 60.0),
                "y_limits_mm": (10.0, 50.0),
            },
            "focus": {
                "backend": "serial",
                "port": emus.apt.path,
                "home_on_connect": True,
                "limits_um": (1000.0, 9000.0),
                "settle_ms": 0.0,
            },
        }
    )


@pytest.fixture
def emus(tmp_path):
    rig = emulated_rig_for_limits()
    with start_emulators(
        rig,
        link_dir=tmp_path,
        time_scale=SCALE,
        start_homed=True,
        start_mm=(40.0, 30.0),
        start_z_um=5000.0,
    ) as e:
        yield e


def emulated_rig_for_limits() -> RigConfig:
    return RigConfig.model_validate(
        {
            "stage": {"x_limits_mm": (20.0, 60.0), "y_limits_mm": (10.0, 50.0)},
            "focus": {"limits_um": (1000.0, 9000.0)},
        }
    )


def test_emulators_take_the_rig_soft_limits(emus):
    assert soft_limits_counts(emulated_rig_for_limits())[0x21] == (400_000, 1_200_000)
    assert emus.apt.axes[0x21].soft_limits == (400_000, 1_200_000)
    assert emus.wheel.pcount == 6


def test_build_rig_dispatches_each_backend(emus):
    cfg = emulated_rig(emus, camera_backend="pco")
    rig = build_rig(cfg)  # no sim device: nothing simulated is needed
    assert isinstance(rig.stage, AptXYStage) and isinstance(rig.focus, AptFocus)
    assert isinstance(rig.filter_wheel, ThorlabsFilterWheel)
    assert rig.focus.ctrl is rig.stage.ctrl  # third bay: one controller, one port
    assert rig.world is None


def test_devices_check_cli(emus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pco", make_module(width=64, height=48))
    path = tmp_path / "rig.toml"
    path.write_text(dump_toml(emulated_rig(emus, camera_backend="pco")))
    result = CliRunner().invoke(main, ["devices", "check", "--rig", str(path)])
    assert result.exit_code == 0, result.output
    assert "4 of 4 devices OK" in result.output
    assert "x 40.0000 mm, y 30.0000 mm" in result.output
    assert "slot 1 (260 nm)" in result.output and "z 5000.00 um" in result.output
    assert "exposure 0.1-2000 ms" in result.output and "pco.ultraviolet" in result.output


def test_devices_check_reports_a_missing_device(emus, tmp_path):
    cfg = emulated_rig(emus, camera_backend="pco").model_dump()
    cfg["filter_wheel"]["port"] = str(tmp_path / "gone")
    path = tmp_path / "rig.toml"
    path.write_text(dump_toml(RigConfig.model_validate(cfg)))
    result = CliRunner().invoke(main, ["devices", "check", "--rig", str(path)])
    assert result.exit_code == 1
    assert "FAIL: cannot open serial port" in result.output and "gone" in result.output
    assert "stage" in result.output and "2 of 4 devices OK" in result.output  # pco missing too


def test_whole_scan_through_the_serial_drivers(emus, tmp_path):
    cfg = emulated_rig(emus)
    rig = build_hardware_rig(cfg, renderer=FlatWorld(64, 48, 0.5), timing_scale=SCALE)
    scan = ScanConfig(
        region=RegionConfig(center_mm=(40.0, 30.0), rows=2, columns=2),
        wavelengths=(
            WavelengthConfig(nm=260, exposure_ms=1.0),
            WavelengthConfig(nm=280, exposure_ms=1.0),
        ),
        background={"position_mm": (35.0, 25.0), "frames": 1, "dark_frames": 1},
    )
    summary = run_scan(rig, scan, tmp_path / "scan")
    assert summary.status == "complete" and summary.tiles_done == 4
    moves = emus.apt.requested
    assert {m.bay for m in moves} >= {0x21, 0x22}
    assert emus.apt.violations == [] and emus.wheel.violations == []
    xs = sorted({m.target for m in moves if m.bay == 0x21})
    assert len(xs) >= 2 and all(400_000 <= x <= 1_200_000 for x in xs)
    assert {"pos=1", "pos=2", "pos=6"} <= set(emus.wheel.commands)  # 260, 280 and dark
    rig.close()
    assert not rig.stage.ctrl.is_open and not rig.filter_wheel.link.is_open


def _scan(n_rows: int = 2) -> ScanConfig:
    return ScanConfig(
        region=RegionConfig(center_mm=(40.0, 30.0), rows=n_rows, columns=2),
        wavelengths=(WavelengthConfig(nm=260, exposure_ms=1.0),),
        background={"position_mm": (35.0, 25.0), "frames": 1, "dark_frames": 1},
    )


def test_stall_mid_scan_is_recovered_by_reconnect_and_retry(emus, tmp_path):
    from uvscope.acquisition.engine import ScanEngine

    rig = build_hardware_rig(
        emulated_rig(emus), renderer=FlatWorld(64, 48, 0.5), timing_scale=SCALE
    )
    engine = ScanEngine(rig, _scan(), tmp_path / "scan")
    logs: list[str] = []
    engine.events.log.connect(logs.append)
    engine.events.tile_acquired.connect(lambda t: emus.apt.stall(0x22) if t.index == 0 else None)
    summary = engine.run()
    rig.close()
    assert summary.status == "complete" and summary.tiles_done == 4
    assert any("motion error" in m for m in logs)  # the stall was seen, then retried


def test_connection_lost_for_good_mid_scan_stops_cleanly(emus, tmp_path):
    from uvscope.acquisition.engine import ScanEngine
    from uvscope.errors import ScanError
    from uvscope.io.scanfolder import ScanFolder

    rig = build_hardware_rig(
        emulated_rig(emus), renderer=FlatWorld(64, 48, 0.5), timing_scale=SCALE
    )
    engine = ScanEngine(rig, _scan(), tmp_path / "scan")
    engine.events.tile_acquired.connect(
        lambda t: emus.apt.drop(reconnect=False) if t.index == 1 else None
    )
    with pytest.raises(ScanError, match="lost the connection|disconnected|cannot open"):
        engine.run()
    rig.close()
    assert engine.summary is not None and engine.summary.tiles_done == 2
    assert ScanFolder.open(tmp_path / "scan").read_manifest()["status"] == "failed"


def test_sim_serve_prints_ports_and_stops_on_ctrl_c(tmp_path, monkeypatch):
    import uvscope.cli.sim_serve as serve_cli

    seen: list[bool] = []

    def interrupt() -> None:
        # while serving, the printed port is a working FW102C
        import serial

        with serial.Serial(str(tmp_path / "fw102c"), 115200, timeout=1.0) as port:
            port.write(b"*idn?\r")  # a fresh wheel answers its very first command
            seen.append(b"FW102C" in port.read_until(b"> "))
        raise KeyboardInterrupt

    monkeypatch.setattr(serve_cli, "_idle", interrupt)
    result = CliRunner().invoke(
        main, ["sim", "serve", "--dir", str(tmp_path), "--time-scale", "0.01"]
    )
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "fw102c") in result.output
    assert str(tmp_path / "apt-bbd") in result.output
    assert seen == [True]
    assert not (tmp_path / "fw102c").exists()  # stopped and cleaned up


def test_pause_holds_the_rig_still_keeps_the_controller_alive_and_resume_finishes(emus, tmp_path):
    import threading
    import time

    from uvscope.acquisition.engine import ScanEngine
    from uvscope.acquisition.events import RunState
    from uvscope.io.scanfolder import ScanFolder

    rig = build_hardware_rig(
        emulated_rig(emus), renderer=FlatWorld(64, 48, 0.5), timing_scale=SCALE
    )
    engine = ScanEngine(rig, _scan(), tmp_path / "scan")
    paused = threading.Event()

    def pause_after_the_first_tile(tile) -> None:  # noqa: ANN001
        if tile.index == 0:
            engine.pause()
            paused.set()

    engine.events.tile_acquired.connect(pause_after_the_first_tile)
    engine.start()
    assert paused.wait(30)
    time.sleep(0.5)  # whatever was in flight when the pause came has finished
    moves, wheel_cmds, acks = (
        len(emus.apt.requested),
        len(emus.wheel.commands),
        len(emus.apt.acks),
    )
    time.sleep(1.5)
    assert engine.state == RunState.PAUSED
    assert len(emus.apt.requested) == moves and len(emus.wheel.commands) == wheel_cmds
    assert len(emus.apt.acks) > acks  # the keep-alive goes on while the scan waits
    engine.resume()
    summary = engine.join(60)
    rig.close()
    assert summary is not None and summary.status == "complete" and summary.tiles_done == 4
    assert emus.apt.violations == [] and emus.wheel.violations == []
    assert sorted(ScanFolder.open(tmp_path / "scan").verified_tiles()) == [0, 1, 2, 3]


def test_a_binned_pco_scan_plans_and_labels_tiles_from_the_cameras_geometry(emus, tmp_path):
    """Binning 2 x 2: tiles are the binned image's size on the stage, OME pixel size doubled."""
    import tifffile

    from uvscope.io.scanfolder import ScanFolder

    cfg = emulated_rig(emus, camera_backend="pco").model_dump()
    cfg["camera"]["binning"] = (2, 2)
    rig = build_hardware_rig(
        RigConfig.model_validate(cfg),
        timing_scale=SCALE,
        pco_module=make_module(width=64, height=48),
    )
    summary = run_scan(rig, _scan(n_rows=1), tmp_path / "scan")
    rig.close()
    assert summary.status == "complete"
    plan = ScanFolder.open(tmp_path / "scan").read_manifest()["plan"]
    assert plan["fov_mm"] == pytest.approx([32 * 1.0 / 1000, 24 * 1.0 / 1000])  # 0.5 um x 2
    (tile,) = sorted((tmp_path / "scan" / "raw").glob("tile_0000*_260.ome.tif"))[:1]
    with tifffile.TiffFile(tile) as tif:
        assert tif.pages[0].shape == (24, 32)
        assert 'PhysicalSizeX="1.0"' in tif.ome_metadata
