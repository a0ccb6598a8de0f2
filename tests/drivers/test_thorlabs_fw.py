"""The FW102C driver against the wire-level emulator: bytes sent, replies, faults."""

from __future__ import annotations

import time

import pytest

from tests.drivers.conftest import SCALE, fw_config
from uvscope.drivers.thorlabs_fw import (
    ArgumentInvalid,
    CommandNotDefined,
    ThorlabsFilterWheel,
    error_for,
    parse_reply,
)
from uvscope.errors import ConfigError, DeviceDisconnected, DeviceError, DeviceTimeout


def test_connect_on_a_fresh_wheel_sends_idn_then_the_settings(wheel, fw_emu):
    assert fw_emu.commands == ["*idn?", "pcount?", "speed=1", "sensors=0", "trig=0", "pos?"]
    assert fw_emu.received_bytes.startswith(b"*idn?\rpcount?\r")
    assert "FW102C" in wheel.info().model
    assert wheel.info().firmware == "1.07"


def test_connect_tolerates_an_error_on_the_first_command(tmp_path):
    from uvscope.sim.emu_fw102c import EmuFW102C

    with EmuFW102C(link_dir=tmp_path, time_scale=SCALE, power_on_error=True) as emu:
        w = ThorlabsFilterWheel(fw_config(emu.path), timing_scale=SCALE)
        w.connect()
        w.close()
        # the first *idn? drew the error, the second one was answered
        assert emu.commands[:3] == ["*idn?", "*idn?", "pcount?"]


def test_an_empty_line_is_the_command_the_wheel_does_not_know(fw_emu):
    import serial

    with serial.Serial(fw_emu.path, 115200, timeout=1.0) as port:
        port.write(b"\r")
        assert b"CMD_NOT_DEFINED" in port.read_until(b"> ")
        port.write(b"save\r")
        assert port.read_until(b"> ") == b"save\r> "
    assert fw_emu.saved["pcount"] == 6


def test_move_to_wavelength_sends_pos_and_confirms(wheel, fw_emu):
    n = len(fw_emu.commands)
    wheel.move_to_wavelength(280)
    assert fw_emu.commands[n:] == ["pos=2", "pos?"]
    assert wheel.slot == 2 and wheel.wavelength_nm == 280
    wheel.move_to_dark()
    assert fw_emu.pos == 6
    assert fw_emu.received_bytes.endswith(b"pos?\rpos?\rpos=6\rpos?\r")


def test_move_waits_for_the_wheel(wheel, fw_emu):
    fw_emu.ms_per_slot = 5000.0  # 3 slots -> 15 s real, 0.15 s here
    wheel.config = fw_config(fw_emu.path, move_ms_per_slot=5000.0)
    t0 = time.monotonic()
    wheel.move_to_slot(4)
    assert time.monotonic() - t0 >= 0.9 * 3 * 5.0 * SCALE
    assert fw_emu.pos == 4


def test_start_move_then_wait_lets_caller_overlap(wheel, fw_emu):
    wheel.start_move_to_slot(3)
    assert fw_emu.pos in (1, 3)  # nothing blocks here
    wheel.wait()
    assert wheel.slot == 3


def test_every_setting_and_query_is_sent_verbatim(wheel, fw_emu):
    n = len(fw_emu.commands)
    assert wheel.query("speed?") == "1"
    assert wheel.query("trig?") == "0"
    assert wheel.query("sensors?") == "0"
    wheel.command("trig=1")
    assert fw_emu.trig == 1
    assert fw_emu.commands[n:] == ["speed?", "trig?", "sensors?", "trig=1"]


def test_device_errors_become_exceptions(wheel, fw_emu):
    with pytest.raises(CommandNotDefined):
        wheel.query("bogus?")
    with pytest.raises(ArgumentInvalid):
        wheel.command("speed=7")
    with pytest.raises(DeviceError, match="outside"):
        wheel.move_to_slot(7)  # refused before any byte is sent
    assert all(not c.startswith("pos=7") for c in fw_emu.commands)


def test_error_strings():
    assert isinstance(error_for("x", "Command error CMD_NOT_DEFINED"), CommandNotDefined)
    assert isinstance(error_for("x", "CMD_ARG_INVALID"), ArgumentInvalid)
    assert error_for("x", "Error: overheat") is not None
    assert error_for("pos?", "3") is None
    assert parse_reply("pos?", b"pos?\r3\r> ") == "3"
    assert parse_reply("pos=2", b"pos=2\r> ") == ""


def test_pcount_mismatch_is_a_config_error(fw_emu):
    w = ThorlabsFilterWheel(
        fw_config(fw_emu.path, position_count=12, slots={"260": 1}), timing_scale=SCALE
    )
    with pytest.raises(ConfigError, match="12"):
        w.connect()
    assert not w.link.is_open


def test_no_reply_is_retried(wheel, fw_emu):
    fw_emu.inject("no_reply", 2)
    assert wheel.query("speed?") == "1"
    assert fw_emu.commands[-3:] == ["speed?"] * 3


def test_garbled_reply_is_retried(wheel, fw_emu):
    fw_emu.inject("garble", 1)
    assert wheel.slot == 1
    assert fw_emu.commands[-2:] == ["pos?", "pos?"]


def test_persistent_silence_raises_device_timeout(wheel, fw_emu):
    fw_emu.inject("no_reply", 3)
    with pytest.raises(DeviceTimeout, match="did not answer"):
        wheel.query("pos?")


def test_persistent_garbage_raises_device_error(wheel, fw_emu):
    fw_emu.inject("garble", 3)
    with pytest.raises(DeviceError, match="garbled") as info:
        wheel.query("pos?")
    assert not isinstance(info.value, DeviceTimeout)


def test_lost_move_prompt_is_recovered_by_pos_query(wheel, fw_emu):
    fw_emu.inject("no_reply", 1)
    wheel.move_to_slot(3)
    assert fw_emu.pos == 3 and wheel.slot == 3


def test_slow_move_raises_device_timeout(wheel, fw_emu):
    fw_emu.slow_factor = 200.0  # 2 slots take 2 s here; the driver allows ~0.2 s
    with pytest.raises(DeviceTimeout):
        wheel.move_to_slot(3)


def test_dropped_connection_is_reopened_once(wheel, fw_emu):
    fw_emu.drop(reconnect=True)
    assert wheel.query("pcount?") == "6"
    assert wheel.link.reopen_count == 1


def test_dropped_connection_for_good_raises_disconnected(wheel, fw_emu):
    fw_emu.drop(reconnect=False)
    with pytest.raises(DeviceDisconnected):
        wheel.query("pos?")


def test_missing_port_names_the_port(tmp_path):
    w = ThorlabsFilterWheel(fw_config(str(tmp_path / "nope")))
    with pytest.raises(DeviceError, match="nope"):
        w.connect()


def test_no_port_is_a_config_error():
    with pytest.raises(ConfigError, match="filter_wheel.port"):
        ThorlabsFilterWheel(fw_config(None))
