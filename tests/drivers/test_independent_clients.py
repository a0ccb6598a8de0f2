"""Drivers nobody here wrote, against the emulators as ``uvscope sim serve`` starts them,
each alone and one after another on the same emulator.

pyLabLib (``Thorlabs.FW``, ``Thorlabs.KinesisMotor``) and thorlabs-apt-device (``BBD202``)
are test dependencies. They read the protocols from the Thorlabs manuals independently of
us; where they and our emulators agree, our drivers (tested against the emulators) speak
the protocol as others understand it.

pyLabLib opens the APT port with RTS/CTS and cycles RTS; a pseudo-terminal has no modem lines
(ENOTTY), so that one call is patched out here, for these clients only. Our driver needs no
such patch.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator

import pytest
import serial.serialposix
import thorlabs_apt_device
from pylablib.devices import Thorlabs

from tests.drivers.conftest import fw_config, stage_config
from uvscope.config import RigConfig
from uvscope.drivers.thorlabs_apt import build_apt_devices
from uvscope.drivers.thorlabs_fw import ThorlabsFilterWheel
from uvscope.sim.serve import Emulators, start_emulators

SCALE = 0.01


@pytest.fixture
def served(tmp_path) -> Iterator[Emulators]:
    """The emulators as ``uvscope sim serve --not-homed`` starts them (stage at 55, 37.5)."""
    rig = RigConfig()
    emus = start_emulators(
        rig,
        link_dir=tmp_path,
        time_scale=SCALE,
        start_homed=False,
        start_mm=(55.0, 37.5),
        start_z_um=rig.sim.focus_z_um,
    )
    yield emus
    emus.stop()
    assert emus.apt.errors == [] and emus.wheel.errors == []


@pytest.fixture
def no_modem_lines(monkeypatch) -> None:
    monkeypatch.setattr(serial.serialposix.Serial, "_update_rts_state", lambda self: None)


def until(cond: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_pylablib_fw_sets_and_reads_the_wheel(served):
    fw = Thorlabs.FW(served.wheel.path)  # its first command on a fresh wheel is pcount?
    try:
        assert fw.get_pcount() == 6 and fw.get_position() == 1
        assert "FW102C" in fw.get_id()
        assert fw.set_position(3) == 3
        assert fw.set_position(6) == 6  # across the wrap: pyLabLib goes round in three moves
        assert served.wheel.pos == 6
        assert fw.set_speed_mode("low") == "low" and served.wheel.speed == 0
        assert fw.set_trigger_mode("out") == "out" and served.wheel.trig == 1
        assert fw.set_sensor_mode("off") == "off" and served.wheel.sensors == 0
        fw.store_settings()
        assert served.wheel.saved["trig"] == 1
    finally:
        fw.close()
    assert served.wheel.violations == []


def test_pylablib_kinesis_homes_moves_and_reads_a_bbd_bay(
    served, no_modem_lines, tmp_path, monkeypatch
):
    # pyLabLib picks its serial backend by the port's name (/dev/tty*): give it such a name
    os.symlink(served.apt.path, tmp_path / "ttyAPT")
    monkeypatch.chdir(tmp_path)
    m = Thorlabs.KinesisMotor(("ttyAPT", 115200), is_rack_system=True)
    try:
        info = m.get_device_info()
        assert (info.model_no, info.serial_no, info.nchannels) == ("BBD203", 73000001, 3)
        assert not m.is_homed() and "enabled" in m.get_status()
        m.home(sync=True, timeout=10)
        assert m.is_homed() and m.get_position() == 0  # MOT_REQ_POSCOUNTER
        m.move_to(500_000)
        m.wait_move(timeout=10)
        assert m.get_position() == 500_000
        m.move_by(-1000)
        m.wait_move(timeout=10)
        assert m.get_position() == 499_000
        m.jog("+", kind="builtin")  # MOT_MOVE_JOG, one step of the jog parameters
        m.wait_move(timeout=10)
        after_jog = m.get_position()
        assert abs(after_jog - 499_000) == m.get_jog_parameters().step_size
        home = m.get_homing_parameters()
        assert home.home_direction == "reverse" and home.velocity > 0
        assert m.get_limit_switch_parameters().sw_kind == "ignore"
        assert m.get_gen_move_parameters().backlash_distance == 0
        m.setup_velocity(max_velocity=200_000, acceleration=100_000)
        assert m.get_velocity_parameters().max_velocity == pytest.approx(200_000, rel=1e-3)
        with m.using_channel(2):  # Y: its own bay, still unhomed
            assert not m.is_homed()
            m.home(sync=True, timeout=10)
            assert m.is_homed()
    finally:
        m.close()
    ax = served.apt.axes
    assert ax[0x21].position == after_jog and ax[0x22].homed and not ax[0x23].homed
    assert served.apt.refused == []


def test_thorlabs_apt_device_bbd202_homes_and_moves_both_bays(served):
    stage = thorlabs_apt_device.BBD202(served.apt.path, home=True)  # homes after 1 s
    # Its event loop reads until the port is quiet for the read timeout (0.1 s); a controller
    # streaming status at 10 Hz from two bays (as the manual says, and as our emulator does)
    # is never quiet that long, so every queued write starved (reads of 0.6-1.7 s seen).
    # The client is given a shorter timeout, as pyLabLib is given a port without modem lines.
    stage._port.timeout = 0.02
    x, y = stage.status_[0][0], stage.status_[1][0]
    try:
        assert until(lambda: x["homed"] and y["homed"])
        stage.move_absolute(200_000, bay=0)
        stage.move_absolute(100_000, bay=1)
        # each bay's update messages land in its own status: X is not the focus bay's counts
        assert until(
            lambda: (
                (x["position"], y["position"]) == (200_000, 100_000)
                and not (x["moving_forward"] or y["moving_forward"])
            )
        )
        stage.move_relative(5000, bay=1)
        stage.move_absolute(300_000, now=False, bay=0)  # MOT_SET_MOVEABSPARAMS
        stage.move_absolute(bay=0)  # header only: to the stored position
        assert until(lambda: (x["position"], y["position"]) == (300_000, 105_000))
        stage.set_velocity_params(acceleration=1000, max_velocity=100_000, bay=1)
        assert until(lambda: stage.velparams_[1][0]["max_velocity"] == 100_000)
        assert stage.homeparams_[0][0]["home_velocity"] > 0
        stage.move_velocity("forward", bay=1)
        assert until(lambda: y["moving_forward"] or y["moving_reverse"])
        stage.stop(bay=1)
        assert until(lambda: not (y["moving_forward"] or y["moving_reverse"]))
        assert served.apt.axes[0x22].kind == ""
    finally:
        stage.close()
    assert served.apt.axes[0x23].position == 5000 * 20  # focus untouched: bay 0x23 not driven
    assert served.apt.refused == []


def fds_on(port: str) -> int:
    """File descriptors of this process open on ``port``'s device: the emulator keeps one."""
    rdev = os.stat(port).st_rdev
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            st = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += stat.S_ISCHR(st.st_mode) and st.st_rdev == rdev
    return count


def test_clients_one_after_another_on_one_controller(served, no_modem_lines, tmp_path, monkeypatch):
    """A lab's day on one controller: thorlabs-apt-device, pyLabLib, uvscope's driver, then
    pyLabLib again, each opening the port only once the one before has really let go of it
    (thorlabs-apt-device's close() returns before its event loop closes the port), and each
    finding the stage where the one before left it."""
    apt = served.apt
    own = fds_on(apt.path)  # the emulator's end of the pty
    os.symlink(apt.path, tmp_path / "ttyAPT")  # pyLabLib picks its backend by a /dev/tty* name
    monkeypatch.chdir(tmp_path)

    stage = thorlabs_apt_device.BBD202(apt.path, home=True)
    stage._port.timeout = 0.02  # as in the test above: its reads never starve its writes
    x, y = stage.status_[0][0], stage.status_[1][0]
    try:
        assert until(lambda: x["homed"] and y["homed"])
        stage.move_absolute(200_000, bay=0)
        stage.move_absolute(100_000, bay=1)
        assert until(lambda: (x["position"], y["position"]) == (200_000, 100_000))
    finally:
        stage.close()
    stage._thread.join(timeout=5)  # its event loop closes the port after close() returns
    assert not stage._thread.is_alive() and fds_on(apt.path) == own
    # its HW_STOP_UPDATEMSGS to each bay, written by that loop after close() returned
    assert until(lambda: not apt.updates, 1.0)

    m = Thorlabs.KinesisMotor(("ttyAPT", 115200), is_rack_system=True)
    try:
        assert m.is_homed() and m.get_position() == 200_000
        m.move_to(300_000)
        m.wait_move(timeout=10)
    finally:
        m.close()
    assert fds_on(apt.path) == own

    xy, _ = build_apt_devices(stage_config(apt.path), None, timing_scale=SCALE)
    assert xy is not None
    with xy:
        assert xy.is_homed() and xy.position_mm() == pytest.approx((15.0, 5.0))
        xy.move_to_mm(40.0, 30.0)
    assert fds_on(apt.path) == own and not apt.updates

    m = Thorlabs.KinesisMotor(("ttyAPT", 115200), is_rack_system=True)
    try:
        assert m.get_position() == 800_000
        with m.using_channel(2):
            assert m.is_homed() and m.get_position() == 600_000
            m.move_by(-20_000)
            m.wait_move(timeout=10)
    finally:
        m.close()
    assert fds_on(apt.path) == own
    assert (apt.axes[0x21].position, apt.axes[0x22].position) == (800_000, 580_000)
    assert apt.refused == [] and apt.violations == []


def test_wheel_clients_one_after_another(served):
    """pyLabLib, uvscope's driver, then pyLabLib again on one FW102C emulator."""
    wheel = served.wheel
    own = fds_on(wheel.path)
    fw = Thorlabs.FW(wheel.path)
    try:
        assert fw.set_position(5) == 5 and fw.set_speed_mode("low") == "low"
        assert fw.set_sensor_mode("on") == "on"
    finally:
        fw.close()
    assert fds_on(wheel.path) == own
    config = fw_config(wheel.path, move_ms_per_slot=wheel.ms_per_slot)
    with ThorlabsFilterWheel(config, timing_scale=SCALE) as ours:
        assert ours.slot == 5
        ours.move_to_wavelength(280)
    assert fds_on(wheel.path) == own
    fw = Thorlabs.FW(wheel.path)
    try:
        assert fw.get_position() == 2 and fw.get_speed_mode() == "high"
        assert fw.get_sensor_mode() == "off"  # uvscope's default: no stray light when idle
    finally:
        fw.close()
    assert wheel.violations == []
