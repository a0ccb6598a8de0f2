"""The sans-IO APT message module: layouts both sides agree on."""

from __future__ import annotations

import struct

import pytest

from uvscope.drivers import apt_protocol as ap


def test_move_absolute_bytes_match_the_protocol():
    data = ap.move_absolute(0x21, 1_000_000, (0, 2_200_000))
    assert data == struct.pack("<HHBBHl", 0x0453, 6, 0x21 | 0x80, 0x01, 1, 1_000_000)


def test_short_messages():
    assert ap.move_home(0x22) == bytes([0x43, 0x04, 0x01, 0x00, 0x22, 0x01])
    assert ap.enable_channel(0x23) == bytes([0x10, 0x02, 0x01, 0x01, 0x23, 0x01])
    assert ap.move_stop(0x21, immediate=True) == bytes([0x65, 0x04, 0x01, 0x01, 0x21, 0x01])
    assert ap.ack_status(0x21) == bytes([0x92, 0x04, 0x00, 0x00, 0x21, 0x01])
    assert ap.no_flash_programming(0x11) == bytes([0x18, 0x00, 0x00, 0x00, 0x11, 0x01])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2**40, 1.5, "3", True, None])
def test_counts_gate_rejects_what_is_not_an_int32(bad):
    with pytest.raises(ValueError):
        ap.move_absolute(0x21, bad, (0, 2_200_000))


def test_counts_gate_enforces_limits_and_relative_end_point():
    with pytest.raises(ValueError, match="soft limits"):
        ap.move_absolute(0x21, 2_200_001, (0, 2_200_000))
    with pytest.raises(ValueError, match="soft limits"):
        ap.move_relative(0x21, 100, 2_199_950, (0, 2_200_000))
    assert ap.move_relative(0x21, -100, 2_199_950, (0, 2_200_000))[:2] == b"\x48\x04"


def test_reader_splits_frames_and_skips_noise():
    status = ap.AxisStatus(1, 12345, 0, ap.HOMED | ap.SETTLED)
    stream = (
        b"\xff\xff\x00"
        + ap.status_message(ap.MOT_MOVE_COMPLETED, 0x21, status)
        + ap.move_homed(0x22)
    )
    r = ap.FrameReader()
    frames = r.feed(stream[:10]) + r.feed(stream[10:])
    assert [f.msgid for f in frames] == [ap.MOT_MOVE_COMPLETED, ap.MOT_MOVE_HOMED]
    assert r.garbage == 3
    parsed = frames[0].parsed()  # thorlabs_apt_protocol's own parser reads our reply
    assert parsed["position"] == 12345 and parsed["homed"] and parsed["settled"]
    assert ap.AxisStatus.from_bytes(frames[0].data) == status


def test_info_reply_parses_with_the_package():
    data = ap.get_info(
        0x11,
        serial=73000001,
        model="BBD203",
        hw_type=44,
        firmware=(3, 0, 10),
        notes="x",
        hw_version=1,
        n_channels=3,
    )
    (frame,) = ap.FrameReader().feed(data)
    info = frame.parsed()
    assert info["serial_number"] == 73000001 and info["nchs"] == 3
    assert info["model_number"].rstrip(b"\0") == b"BBD203"
    assert list(info["firmware_version"]) == [3, 0, 10]


def test_status_bits():
    st = ap.AxisStatus(1, 0, 0, ap.MOVING_FWD | ap.LIMIT_REV | ap.MOTION_ERROR)
    assert st.moving and st.limit_switch and st.motion_error and not st.homed
