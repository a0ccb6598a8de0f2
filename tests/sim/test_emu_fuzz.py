"""No byte sequence stops an emulator: after any input the port still answers.

Hypothesis feeds random bytes and random well-formed frames (every id we know, to every
address, with data of any length) straight into the emulators' request handlers; a crash
there used to kill the serving thread and leave the port silent for good.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uvscope.drivers import apt_protocol as ap
from uvscope.sim.emu_apt import EmuAptBBD
from uvscope.sim.emu_fw102c import IDN, EmuFW102C

ADDRESSES = sorted(ap.ADDRESSES)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def apt_frames(draw) -> bytes:
    msgid = draw(st.sampled_from(sorted(ap.KNOWN_IDS) + [0x0999]))
    dest, source = draw(st.sampled_from(ADDRESSES)), draw(st.sampled_from(ADDRESSES))
    if draw(st.booleans()):
        data = draw(st.binary(max_size=40))
        return struct.pack("<HHBB", msgid, len(data), dest | 0x80, source) + data
    p1, p2 = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    return struct.pack("<HBBBB", msgid, p1, p2, dest, source)


def _outbox(emu) -> bytes:
    return b"".join(data for _, data in emu._outbox)


@FUZZ
@given(st.lists(st.one_of(apt_frames(), st.binary(max_size=64)), max_size=25))
def test_apt_emulator_survives_any_input(chunks):
    emu = EmuAptBBD(time_scale=0.0, start_homed=True)
    try:
        for chunk in chunks:
            emu.handle_bytes(chunk)
            emu.tick()
        # zeros complete any half-read frame, then are skipped as noise: the stream is in step
        emu.handle_bytes(b"\0" * (6 + ap.MAX_DATA))
        emu._outbox.clear()
        emu.handle_bytes(ap.req_info(ap.RACK))
        emu.tick()
        assert emu.errors == []
        (info,) = [f for f in ap.FrameReader().feed(_outbox(emu)) if f.msgid == ap.HW_GET_INFO]
        assert info.parsed()["serial_number"] == emu.serial
    finally:
        emu.link_dir.rmdir()


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=32),
            st.sampled_from(
                [
                    b"pos=",
                    b"pcount=",
                    b"speed=",
                    b"trig=",
                    b"sensors=",
                    b"baud=",
                    b"?",
                    b"save",
                    b"*idn?",
                    b"pos?",
                    b"\r",
                    b"\n",
                    b"=",
                    b"99999999999",
                ]
            ),
        ),
        max_size=30,
    )
)
def test_wheel_emulator_survives_any_input(chunks):
    emu = EmuFW102C(time_scale=0.0)
    try:
        for chunk in chunks:
            emu.handle_bytes(chunk)
            emu.tick()
        emu.handle_bytes(b"\r")  # ends whatever half line was sent
        emu.tick()
        emu._outbox.clear()
        emu.handle_bytes(b"*idn?\r")
        emu.tick()
        assert _outbox(emu) == f"*idn?\r{IDN}\r> ".encode()
    finally:
        emu.link_dir.rmdir()


def test_a_header_only_set_message_is_ignored_not_fatal():
    """Found by the fuzz above: a SET_VELPARAMS without its data block raised KeyError."""
    emu = EmuAptBBD(time_scale=0.0)
    try:
        emu.handle_bytes(b"\x13\x04\x00\x00\x21\x01")
        assert emu.errors == [] and emu.axes[0x21].max_velocity > 0
    finally:
        emu.link_dir.rmdir()
