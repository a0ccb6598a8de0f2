"""uvscope's serial drivers on controllers another program left in some state.

A lab's controller meets several programs in a day (Kinesis, a script, thorlabs-apt-device,
pyLabLib), each of which may leave it streaming status update messages, with an axis still
moving or homing, or with a bay disabled, and a wheel still turning. The previous program
here is a plain pyserial port writing messages encoded by thorlabs_apt_protocol (not our
encoder) and closing without cleaning up; then uvscope's driver connects, homes and moves.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import serial
import thorlabs_apt_protocol as apt

from tests.drivers.conftest import SCALE, apt_soft_limits, focus_config, fw_config, stage_config
from uvscope.drivers.thorlabs_apt import build_apt_devices
from uvscope.drivers.thorlabs_fw import ThorlabsFilterWheel
from uvscope.errors import DeviceError
from uvscope.sim.emu_apt import EmuAptBBD
from uvscope.sim.emu_fw102c import EmuFW102C

HOST, RACK, X, Y, Z = 0x01, 0x11, 0x21, 0x22, 0x23


def other_program(port: str, *messages: bytes, linger_s: float = 0.05) -> None:
    """Open the port as another program would, send ``messages`` and close without a word."""
    with serial.Serial(port, 115200, timeout=0.05) as ser:
        ser.write(b"".join(messages))
        ser.flush()
        time.sleep(linger_s)


@pytest.fixture
def emu(tmp_path):
    with EmuAptBBD(
        link_dir=tmp_path, time_scale=SCALE, soft_limits=apt_soft_limits(), start_homed=True
    ) as e:
        e.axes[X].position, e.axes[Y].position, e.axes[Z].position = 400_000, 300_000, 100_000
        yield e


def connect_home_and_move(emu: EmuAptBBD) -> None:
    """What uvscope does on a rig: connect, home, move both axes and the focus, read back."""
    xy, z = build_apt_devices(stage_config(emu.path), focus_config(emu.path), timing_scale=SCALE)
    with xy, z:  # type: ignore[union-attr]
        z.home()  # type: ignore[union-attr]
        xy.home()  # type: ignore[union-attr]
        xy.move_to_mm(42.5, 31.25)  # type: ignore[union-attr]
        z.move_to_um(4321.0)  # type: ignore[union-attr]
        assert xy.position_mm() == pytest.approx((42.5, 31.25), abs=1e-4)  # type: ignore[union-attr]
        assert z.position_um() == pytest.approx(4321.0, abs=0.05)  # type: ignore[union-attr]
    assert emu.axes[X].position == 850_000 and emu.axes[Y].position == 625_000
    assert emu.errors == [] and emu.violations == []


def test_apt_on_a_controller_left_streaming_update_messages(emu):
    other_program(emu.path, apt.hw_start_updatemsgs(RACK, HOST), linger_s=0.3)
    assert all(ax.updates for ax in emu.axes.values())
    connect_home_and_move(emu)
    assert not emu.updates  # uvscope asked for silence: it polls what it needs


def test_apt_on_a_controller_left_mid_move(emu):
    emu.slow_factor = 50.0  # the other program's long move is still running when we connect
    other_program(
        emu.path,
        apt.mot_move_absolute(X, HOST, 1, 2_000_000),
        apt.mot_move_home(Y, HOST, 1),
    )
    assert emu.axes[X].kind == "move" and emu.axes[Y].kind == "home"
    emu.slow_factor = 1.0
    connect_home_and_move(emu)
    # uvscope stopped the motion it had not started before anything else
    assert {f.dest for f in emu.frames_of(0x0465)} >= {X, Y}  # MOT_MOVE_STOP
    assert emu.requested[0].target == 2_000_000 and emu.requested[0].kind == "absolute"


def test_apt_on_a_controller_left_with_a_bay_disabled(emu):
    other_program(emu.path, apt.mod_set_chanenablestate(Y, HOST, 1, 2))
    assert not emu.axes[Y].enabled
    connect_home_and_move(emu)
    assert emu.axes[Y].enabled


HOLD = """
import sys, time, serial
s = serial.Serial(sys.argv[1], 115200, exclusive=True)
print("holding", flush=True)
time.sleep(30)
"""


def test_a_port_another_program_holds_is_named(emu):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, emu.path], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        xy, _ = build_apt_devices(stage_config(emu.path), None, timing_scale=SCALE)
        with pytest.raises(DeviceError, match=rf"in use by another program .*pid {holder.pid}"):
            xy.connect()  # type: ignore[union-attr]
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("speed", [1, 0])
def test_fw102c_on_a_wheel_left_turning(tmp_path, speed):
    with EmuFW102C(link_dir=tmp_path, time_scale=SCALE, ms_per_slot=500.0) as wheel:
        wheel.speed = speed  # left at low speed by the other program
        wheel.slow_factor = 100.0  # its move: three slots in 1.5 s (3 s at low speed)
        with serial.Serial(wheel.path, 115200, timeout=0.05) as ser:
            ser.write(b"pos=4\r")  # not waited for
        time.sleep(0.05)
        wheel.slow_factor = 1.0
        # reply_timeout_s = 0.3 with 2 retries: less than the move the wheel is busy with
        with ThorlabsFilterWheel(fw_config(wheel.path), timing_scale=SCALE) as fw:
            assert fw.slot == 4
            fw.move_to_slot(2)
            assert fw.slot == 2 and wheel.pos == 2
        assert wheel.speed == 1 and wheel.errors == []


HOLD_OPEN = """
import sys, time, serial
s = serial.Serial(sys.argv[1], 115200)  # no lock, as many programs open a port
print("holding", flush=True)
time.sleep(30)
"""


def test_a_silent_wheel_names_who_else_has_its_port_open(tmp_path):
    with EmuFW102C(link_dir=tmp_path, time_scale=SCALE) as wheel:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_OPEN, wheel.path], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            wheel.inject("no_reply", 10)  # as when the other program reads our replies away
            fw = ThorlabsFilterWheel(fw_config(wheel.path, timeout_s=0.5), timing_scale=SCALE)
            with pytest.raises(DeviceError, match=rf"no other program .*pid {holder.pid} "):
                fw.connect()
        finally:
            holder.kill()
            holder.wait()
