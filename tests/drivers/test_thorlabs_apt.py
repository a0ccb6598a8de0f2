"""The APT driver against the BBD emulator: bytes, moves, keep-alive, faults."""

from __future__ import annotations

import math
import time

import pytest
import thorlabs_apt_protocol as apt

from tests.drivers.conftest import SCALE, focus_config, stage_config
from uvscope.drivers import apt_protocol as ap
from uvscope.drivers.thorlabs_apt import AptXYStage, NotHomedError, build_apt_devices
from uvscope.errors import (
    ConfigError,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceTimeout,
    LimitError,
    MotionError,
)


def ids(emu):
    return [f.msgid for _, f in emu.frames if f.msgid != ap.MOT_ACK_DCSTATUSUPDATE]


def test_open_sequence_identifies_enables_and_homes(stage_focus, apt_emu):
    xy, z = stage_focus
    seq = ids(apt_emu)
    assert seq[:3] == [ap.HW_NO_FLASH_PROGRAMMING, ap.HW_STOP_UPDATEMSGS, ap.HW_REQ_INFO]
    assert apt_emu.frames[1][1].dest == apt_emu.frames[2][1].dest == ap.RACK
    for bay in (0x21, 0x22, 0x23):
        sent = [f for _, f in apt_emu.frames if f.dest == bay]
        kinds = [f.msgid for f in sent if f.msgid != ap.MOT_ACK_DCSTATUSUPDATE]
        assert kinds[:9] == [
            ap.HW_STOP_UPDATEMSGS,
            ap.MOD_SET_CHANENABLESTATE,
            ap.MOT_REQ_DCSTATUSUPDATE,
            ap.MOT_SET_VELPARAMS,
            ap.MOT_REQ_HOMEPARAMS,
            ap.MOT_REQ_STAGEAXISPARAMS,
            ap.MOT_REQ_LIMSWITCHPARAMS,
            ap.MOT_SET_LIMSWITCHPARAMS,
            ap.MOT_MOVE_HOME,
        ]
        assert sent[1].param1 == 1 and sent[1].param2 == 1  # channel 1 enabled
    assert all(ax.homed for ax in apt_emu.axes.values())
    info = xy.info()
    assert info.model.startswith("BBD203") and info.serial == "73000001"
    assert info.firmware == "3.0.10"


def test_velocity_parameters_use_mls203_scaling(stage_focus, apt_emu):
    xy, _ = stage_focus
    (vel,) = [f for f in apt_emu.frames_of(ap.MOT_SET_VELPARAMS) if f.dest == 0x21][:1]
    req = ap.decode_request(vel)
    assert req["max_velocity"] == round(100.0 * 134_217.73)
    assert req["acceleration"] == round(1000.0 * 13.744)
    v, a = xy.x.velparams()
    assert v == pytest.approx(100.0, rel=1e-6) and a == pytest.approx(1000.0, rel=1e-3)


def test_absolute_move_sends_counts_and_waits_for_completion(stage_focus, apt_emu):
    xy, _ = stage_focus
    xy.move_to_mm(42.5, 31.25)
    moves = apt_emu.frames_of(ap.MOT_MOVE_ABSOLUTE)[-2:]
    assert [(f.dest, ap.decode_request(f)["counts"]) for f in moves] == [
        (0x21, 850_000),
        (0x22, 625_000),
    ]
    header = bytes.fromhex("5304 0600 a1 01 0100")
    assert moves[0].to_bytes() == header + (850_000).to_bytes(4, "little")
    assert xy.position_mm() == pytest.approx((42.5, 31.25), abs=1e-6)


def test_move_takes_the_profile_time(stage_focus, apt_emu):
    xy, _ = stage_focus
    t0 = time.monotonic()
    xy.move_to_mm(105.0, 5.0)  # 105 mm at 100 mm/s, 1000 mm/s^2 -> 1.15 s real
    assert time.monotonic() - t0 >= 0.9 * 1.15 * SCALE


def test_relative_move_uses_move_relative(stage_focus, apt_emu):
    xy, _ = stage_focus
    xy.move_to_mm(10.0, 10.0)
    xy.move_by_mm(0.5, -0.25)
    rel = apt_emu.frames_of(ap.MOT_MOVE_RELATIVE)
    assert [ap.decode_request(f)["counts"] for f in rel] == [10_000, -5_000]
    assert xy.position_mm() == pytest.approx((10.5, 9.75))
    with pytest.raises(LimitError):
        xy.move_by_mm(-6.0, 0.0)
    assert len(apt_emu.frames_of(ap.MOT_MOVE_RELATIVE)) == 2


def test_focus_moves_in_um_on_the_third_bay(stage_focus, apt_emu):
    _, z = stage_focus
    z.move_to_um(5000.0)
    (f,) = apt_emu.frames_of(ap.MOT_MOVE_ABSOLUTE)
    assert f.dest == 0x23 and ap.decode_request(f)["counts"] == 100_000
    assert z.position_um() == pytest.approx(5000.0)
    z.move_by_um(-2.5)
    assert z.position_um() == pytest.approx(4997.5)


@pytest.mark.parametrize("x", [math.nan, math.inf, -math.inf, 1e300, 104.999999 + 1e-3, 4.9])
def test_out_of_limit_or_bad_positions_send_nothing(stage_focus, apt_emu, x):
    xy, z = stage_focus
    n = len(apt_emu.frames)
    with pytest.raises(LimitError):
        xy.move_to_mm(x, 10.0)
    with pytest.raises(LimitError):
        z.move_to_um(x * 1000 + 10_000)
    moves = [
        f for _, f in apt_emu.frames[n:] if f.msgid in (ap.MOT_MOVE_ABSOLUTE, ap.MOT_MOVE_RELATIVE)
    ]
    assert moves == [] and apt_emu.violations == []


def test_pack_level_gate_catches_a_bypassed_base_check(stage_focus, apt_emu):
    xy, _ = stage_focus
    with pytest.raises(LimitError, match="soft limits"):
        xy._do_start_move(200.0, 10.0)  # what a buggy subclass might do
    with pytest.raises(LimitError):
        xy.x.start_move(10**12)
    assert apt_emu.frames_of(ap.MOT_MOVE_ABSOLUTE) == []


def test_emulator_flags_a_request_outside_its_soft_limits(apt_emu, stage_focus):
    xy, _ = stage_focus
    xy.x.limits_counts = (0, 2_200_000)  # a driver with wrong limits...
    xy.x.start_move(2_150_000)
    # ...is caught by the emulator, and the controller's own soft limit stops the move there
    with pytest.raises(MotionError, match="stopped at 105.0000 mm, not at 107.5000 mm"):
        xy.x.wait_move()
    assert apt_emu.violations and "0x21" in apt_emu.violations[0]


def test_moves_need_homing(apt_emu):
    xy, _ = build_apt_devices(stage_config(apt_emu.path), None, timing_scale=SCALE)
    with xy:
        with pytest.raises(NotHomedError):
            xy.move_to_mm(10, 10)
        xy.home()
        xy.move_to_mm(10, 10)
        assert xy.position_mm() == pytest.approx((10, 10))


def test_keepalive_at_least_once_a_second_and_never_inside_an_exchange(stage_focus, apt_emu):
    xy, _ = stage_focus
    apt_emu.reply_delay_s = 0.08  # slow replies: the keep-alive (every 0.2 s) must wait
    t_end = time.monotonic() + 1.2
    while time.monotonic() < t_end:
        xy.position_mm()
        xy.move_to_mm(20.0, 20.0)
        xy.move_to_mm(30.0, 10.0)
    acks = apt_emu.acks
    assert len(acks) >= 4
    gaps = [b - a for a, b in zip(acks, acks[1:], strict=False)]
    assert max(gaps) < 1.0
    # between a status request arriving and its reply leaving, no other byte arrives
    frames = apt_emu.frames
    replies = sorted(t for t, msgid, _ in apt_emu.replies if msgid == ap.MOT_GET_DCSTATUSUPDATE)
    for t_req, f in frames:
        if f.msgid != ap.MOT_REQ_DCSTATUSUPDATE:
            continue
        t_rep = next(t for t in replies if t >= t_req)
        between = [g for t, g in frames if t_req < t < t_rep - 1e-4]
        assert between == [], f"{between} arrived inside an exchange"


def test_keepalive_bytes_are_whole_frames(stage_focus, apt_emu):
    time.sleep(0.5)
    r = ap.FrameReader()
    frames = r.feed(apt_emu.received_bytes)
    assert r.garbage == 0 and r.buf == b""
    assert sum(f.msgid == ap.MOT_ACK_DCSTATUSUPDATE for f in frames) >= 3


def test_lost_reply_is_retried(stage_focus, apt_emu):
    xy, _ = stage_focus
    apt_emu.inject("no_reply", 2)
    assert xy.position_mm() == pytest.approx((0.0, 0.0))
    assert len([f for f in apt_emu.frames_of(ap.MOT_REQ_DCSTATUSUPDATE) if f.dest == 0x21]) >= 4


def test_garbled_reply_is_retried_then_raises(stage_focus, apt_emu):
    xy, _ = stage_focus
    apt_emu.inject("garble", 1)
    assert xy.x.position() == 0.0
    apt_emu.inject("garble", 3)
    with pytest.raises(DeviceError, match="garbled") as info:
        xy.x.position()
    assert not isinstance(info.value, DeviceTimeout)


def test_silence_raises_device_timeout(stage_focus, apt_emu):
    xy, _ = stage_focus
    apt_emu.inject("no_reply", 3)
    with pytest.raises(DeviceTimeout, match="did not answer"):
        xy.y.position()


def test_lost_move_completed_is_recovered_by_polling(stage_focus, apt_emu):
    xy, _ = stage_focus
    xy.move_to_mm(10.0, 10.0)
    apt_emu.inject("no_reply", 1)  # MOVE_COMPLETED of x goes missing
    xy.move_to_mm(12.0, 10.0)
    assert xy.position_mm() == pytest.approx((12.0, 10.0))


def test_stalled_axis_raises_motion_error(stage_focus, apt_emu):
    xy, _ = stage_focus
    apt_emu.stall(0x22)
    with pytest.raises(MotionError, match="stage y.*motion error"):
        xy.move_to_mm(50.0, 60.0)
    assert not xy.y.homed


def test_soft_limits_beyond_the_travel_are_refused_at_connect(apt_emu):
    cfg = stage_config(apt_emu.path, x_limits_mm=(0.0, 120.0), home_on_connect=True)
    xy = AptXYStage(cfg, timing_scale=SCALE)
    with pytest.raises(
        ConfigError,
        match=r"stage x soft limits \[0, 120\] mm reach beyond "
        r"the stage's travel \[0, 110\] mm",
    ):
        xy.connect()
    assert not xy.ctrl.is_open


def test_limit_switch_raises_motion_error_where_the_travel_is_not_reported(apt_emu):
    apt_emu.reports_travel = False
    cfg = stage_config(apt_emu.path, x_limits_mm=(0.0, 120.0), home_on_connect=True)
    apt_emu.axes[0x21].soft_limits = None
    xy = AptXYStage(cfg, timing_scale=SCALE)
    with xy, pytest.raises(MotionError, match="limit switch"):
        xy.move_to_mm(115.0, 10.0)  # past the 110 mm travel
    assert xy.x.travel_counts is None


def test_soft_limits_are_programmed_into_the_controller(stage_focus, apt_emu):
    xy, z = stage_focus
    lim = apt_emu.axes[0x21].limswitch
    assert (lim["ccw_soft"], lim["cw_soft"], lim["soft_mode"]) == (100_000, 2_100_000, 3)
    assert (lim["cw_hard"], lim["ccw_hard"]) == (3, 3)  # hard-limit settings written back
    assert apt_emu.axes[0x23].limswitch["cw_soft"] == 9000 * 20
    assert xy.x.travel_counts == (0, 2_200_000)
    # a move another program sends past them stops there, on the controller
    with xy.ctrl.link.lock:
        xy.ctrl.link.write(apt.mot_move_absolute(0x22, 1, 1, 1_450_000))  # y = 72.5 mm
    deadline = time.monotonic() + 2.0
    while apt_emu.axes[0x22].position != 1_400_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert apt_emu.axes[0x22].position == 1_400_000  # stopped at y's soft limit, 70 mm


def test_slow_moves(stage_focus, apt_emu):
    xy, _ = stage_focus
    apt_emu.slow_factor = 1.5
    xy.move_to_mm(30.0, 30.0)  # a little slow: still fine
    apt_emu.slow_factor = 100.0
    with pytest.raises(DeviceTimeout, match="still moving"):
        xy.move_to_mm(90.0, 30.0)
    assert apt_emu.frames_of(ap.MOT_MOVE_STOP)  # and the driver stopped the axis


def test_stop(stage_focus, apt_emu):
    xy, _ = stage_focus
    xy.start_move_to_mm(100.0, 60.0)
    xy.stop()
    assert {f.dest for f in apt_emu.frames_of(ap.MOT_MOVE_STOP)} == {0x21, 0x22}
    with pytest.raises(MotionError, match="stopped at"):
        xy.wait()


def test_dropped_connection_is_reopened_once(stage_focus, apt_emu):
    xy, _ = stage_focus
    apt_emu.drop(reconnect=True)
    xy.move_to_mm(15.0, 15.0)
    assert xy.position_mm() == pytest.approx((15.0, 15.0))
    assert xy.ctrl.link.reopen_count == 1


def test_dropped_connection_for_good_raises(stage_focus, apt_emu):
    xy, _ = stage_focus
    apt_emu.drop(reconnect=False)
    with pytest.raises(DeviceDisconnected):
        xy.position_mm()


def test_silent_port_is_device_not_found(apt_emu):
    apt_emu.inject("no_reply", 10)
    xy = AptXYStage(stage_config(apt_emu.path), timing_scale=SCALE)
    with pytest.raises(DeviceNotFound, match="no APT controller"):
        xy.connect()
    assert not xy.ctrl.is_open


def test_focus_on_its_own_unit(tmp_path):
    from uvscope.sim.emu_apt import EmuAptBBD

    emu = EmuAptBBD(
        bays={0x50: (0, 500_000)},
        name="apt-focus",
        link_dir=tmp_path,
        time_scale=SCALE,
        start_homed=True,
        model="KBD101",
    )
    with emu:
        _, z = build_apt_devices(None, focus_config(emu.path, bay=0x50), timing_scale=SCALE)
        with z:
            z.move_to_um(250.0)
            assert z.position_um() == pytest.approx(250.0)
            assert z.info().model == "KBD101"
        assert [(f.msgid, f.dest) for _, f in emu.frames[1:3]] == [
            (ap.HW_STOP_UPDATEMSGS, 0x50),
            (ap.HW_REQ_INFO, 0x50),
        ]
