"""The APT emulator answers the requests independent clients send, decoded by
thorlabs_apt_protocol's own parsers (written by others, from the Thorlabs manual)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import pytest
import serial
import thorlabs_apt_protocol as apt

from uvscope.drivers import apt_protocol as ap
from uvscope.sim.emu_apt import EmuAptBBD

SCALE = 0.01
H = ap.HOST


@pytest.fixture
def emu(tmp_path) -> Iterator[EmuAptBBD]:
    with EmuAptBBD(link_dir=tmp_path, time_scale=SCALE, start_homed=True) as e:
        e.axes[0x21].position = 1_000_000
        yield e  # type: ignore[misc]
        assert e.errors == []


class Client:
    """A raw APT client: bytes from the package's encoders, frames read by our reader."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.01)
        self.reader = ap.FrameReader()
        self.frames: list[ap.Frame] = []

    def send(self, data: bytes) -> None:
        self.port.write(data)

    def wait_for(self, msgid: int, source: int | None = None, timeout_s: float = 2.0) -> ap.Frame:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for i, f in enumerate(self.frames):
                if f.msgid == msgid and (source is None or f.source == source):
                    return self.frames.pop(i)
            self.frames += self.reader.feed(self.port.read(256))
        raise AssertionError(f"no {msgid:#06x} from {source}")

    def ask(self, data: bytes, msgid: int, source: int) -> ap.Frame:
        self.send(data)
        return self.wait_for(msgid, source)

    def collect(self, seconds: float) -> list[ap.Frame]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.frames += self.reader.feed(self.port.read(256))
        out, self.frames = self.frames, []
        return out


@pytest.fixture
def client(emu) -> Iterator[Client]:
    c = Client(emu.path)
    yield c
    c.port.close()


def test_header_only_moves_use_the_stored_parameters(emu, client):
    client.send(apt.mot_set_moveabsparams(0x21, H, 1, 1_500_000))
    client.send(apt.mot_move_absolute(0x21, H, 1))  # no position: header only
    done = client.wait_for(ap.MOT_MOVE_COMPLETED, 0x21).parsed()
    assert done["position"] == 1_500_000
    client.send(apt.mot_set_moverelparams(0x21, H, 1, -200_000))
    client.send(apt.mot_move_relative(0x21, H, 1))
    assert client.wait_for(ap.MOT_MOVE_COMPLETED, 0x21).parsed()["position"] == 1_300_000
    p = client.ask(apt.mot_req_moveabsparams(0x21, H, 1), ap.MOT_GET_MOVEABSPARAMS, 0x21)
    assert p.parsed()["absolute_position"] == 1_500_000
    assert [m.target for m in emu.requested] == [1_500_000, 1_300_000]


def test_update_messages_start_per_bay(emu, client):
    client.send(apt.hw_start_updatemsgs(0x22, H))
    sources = {f.source for f in client.collect(0.35) if f.msgid == ap.MOT_GET_DCSTATUSUPDATE}
    assert sources == {0x22}
    client.send(apt.hw_start_updatemsgs(ap.RACK, H))  # to the rack: every bay
    client.collect(0.05)
    sources = {f.source for f in client.collect(0.35) if f.msgid == ap.MOT_GET_DCSTATUSUPDATE}
    assert sources == {0x21, 0x22, 0x23}
    client.send(apt.hw_stop_updatemsgs(ap.RACK, H))
    client.collect(0.05)
    assert not [f for f in client.collect(0.25) if f.msgid == ap.MOT_GET_DCSTATUSUPDATE]


def test_every_request_a_client_sends_is_answered_in_the_manuals_layout(emu, client):
    pos = client.ask(apt.mot_req_poscounter(0x21, H, 1), ap.MOT_GET_POSCOUNTER, 0x21).parsed()
    assert (pos["chan_ident"], pos["position"]) == (1, 1_000_000)
    enc = client.ask(apt.mot_req_enccounter(0x21, H, 1), ap.MOT_GET_ENCCOUNTER, 0x21).parsed()
    assert enc["encoder_count"] == 1_000_000
    home = client.ask(apt.mot_req_homeparams(0x22, H, 1), ap.MOT_GET_HOMEPARAMS, 0x22).parsed()
    assert home["home_dir"] == 2 and home["home_velocity"] > 0
    lim = client.ask(
        apt.mot_req_limswitchparams(0x21, H, 1), ap.MOT_GET_LIMSWITCHPARAMS, 0x21
    ).parsed()
    assert lim["soft_limit_mode"] == ap.SOFT_LIMIT_IGNORE
    jog = client.ask(apt.mot_req_jogparams(0x21, H, 1), ap.MOT_GET_JOGPARAMS, 0x21).parsed()
    assert jog["jog_mode"] == 2 and jog["step_size"] == 2000
    gen = client.ask(apt.mot_req_genmoveparams(0x21, H, 1), ap.MOT_GET_GENMOVEPARAMS, 0x21)
    assert gen.parsed()["backlash_distance"] == 0
    st = client.ask(apt.mot_req_statusupdate(0x21, H, 1), ap.MOT_GET_STATUSUPDATE, 0x21).parsed()
    assert st["position"] == 1_000_000 and st["homed"] and st["channel_enabled"]
    req_bits = struct.pack("<HBBBB", ap.MOT_REQ_STATUSBITS, 1, 0, 0x23, H)  # pyLabLib's status
    bits = client.ask(req_bits, ap.MOT_GET_STATUSBITS, 0x23)
    assert struct.unpack_from("<HL", bits.data)[1] & ap.HOMED
    axis = client.ask(
        apt.mot_req_stageaxisparams(0x22, H, 1), ap.MOT_GET_STAGEAXISPARAMS, 0x22
    ).parsed()
    assert (axis["min_pos"], axis["max_pos"]) == (0, 1_500_000)
    trig = client.ask(apt.mot_req_trigger(0x21, H, 1), ap.MOT_GET_TRIGGER, 0x21).parsed()
    assert trig["mode"] == 0
    for bay_index, occupied in ((0, True), (2, True), (3, False)):
        used = client.ask(
            apt.rack_req_bayused(ap.RACK, H, bay_index), ap.RACK_GET_BAYUSED, ap.RACK
        ).parsed()
        assert (used["bay_ident"], used["occupied"]) == (bay_index, occupied)
    rack = client.ask(apt.rack_req_statusbits(ap.RACK, H), ap.RACK_GET_STATUSBITS, ap.RACK)
    assert rack.long and len(rack.data) == 4


def test_velocity_move_runs_until_stopped_and_jog_steps(emu, client):
    emu.axes[0x23].position = 100_000
    client.send(apt.mot_set_velparams(0x21, H, 1, 0, 6872, 67_109))  # 0.5 mm/s: a slow run
    client.send(apt.mot_move_velocity(0x21, H, 1, 1))
    time.sleep(0.05)
    moving = client.ask(apt.mot_req_dcstatusupdate(0x21, H, 1), ap.MOT_GET_DCSTATUSUPDATE, 0x21)
    assert moving.parsed()["moving_forward"]
    client.send(apt.mot_move_stop(0x21, H, 1, 2))
    stopped = client.wait_for(ap.MOT_MOVE_STOPPED, 0x21).parsed()
    assert 1_000_000 < stopped["position"] < 2_200_000
    client.send(apt.mot_move_jog(0x21, H, 1, 2))  # reverse, one step of 2000 counts
    done = client.wait_for(ap.MOT_MOVE_COMPLETED, 0x21).parsed()
    assert done["position"] == stopped["position"] - 2000
    client.send(apt.mot_move_velocity(0x23, H, 1, 2))  # reverse to the end of travel
    end = client.wait_for(ap.MOT_MOVE_STOPPED, 0x23, timeout_s=3.0).parsed()
    assert end["position"] == 0 and end["reverse_limit_switch"]


def test_unknown_frames_are_skipped_whole(emu, client):
    # an id nobody here knows, whose data holds the bytes of a valid HW_REQ_INFO
    inner = apt.hw_req_info(ap.RACK, H)
    unknown = struct.pack("<HHBB", 0x0999, len(inner) + 2, 0x21 | 0x80, H) + inner + b"\0\0"
    client.send(unknown)
    assert not client.collect(0.1)  # no phantom request answered
    assert emu.reader.unknown == 1 and emu.reader.garbage == 0
    assert client.ask(apt.hw_req_info(ap.RACK, H), ap.HW_GET_INFO, ap.RACK)


def test_rehoming_clears_homed_and_refuses_moves_until_done(emu, client):
    client.send(apt.mot_move_home(0x21, H, 1))
    time.sleep(0.01)
    st = client.ask(apt.mot_req_statusupdate(0x21, H, 1), ap.MOT_GET_STATUSUPDATE, 0x21).parsed()
    assert st["homing"] and not st["homed"]
    client.send(apt.mot_move_absolute(0x21, H, 1, 500_000))
    refusal = client.wait_for(ap.HW_RICHRESPONSE, 0x21).parsed()
    assert refusal["msg_ident"] == ap.MOT_MOVE_ABSOLUTE and b"homing" in refusal["notes"]
    client.wait_for(ap.MOT_MOVE_HOMED, 0x21, timeout_s=3.0)
    st = client.ask(apt.mot_req_statusupdate(0x21, H, 1), ap.MOT_GET_STATUSUPDATE, 0x21).parsed()
    assert st["homed"] and not st["homing"] and st["position"] == 0
    assert emu.refused == [(0x21, ap.MOT_MOVE_ABSOLUTE, "homing in progress")]


def test_a_move_on_a_disabled_channel_is_refused_out_loud(emu, client):
    client.send(apt.mod_set_chanenablestate(0x22, H, 1, 2))
    client.send(apt.mot_move_relative(0x22, H, 1, 1000))
    refusal = client.wait_for(ap.HW_RICHRESPONSE, 0x22).parsed()
    assert b"disabled" in refusal["notes"]
    assert emu.refused == [(0x22, ap.MOT_MOVE_RELATIVE, "channel disabled")]


def test_controller_soft_limits_stop_a_move_there(emu, client):
    client.send(ap.set_soft_limits(0x21, (100_000, 1_200_000)))
    lim = client.ask(
        apt.mot_req_limswitchparams(0x21, H, 1), ap.MOT_GET_LIMSWITCHPARAMS, 0x21
    ).parsed()
    assert (lim["ccw_softlimit"], lim["cw_softlimit"]) == (100_000, 1_200_000)
    client.send(apt.mot_move_absolute(0x21, H, 1, 2_000_000))
    stopped = client.wait_for(ap.MOT_MOVE_STOPPED, 0x21).parsed()
    assert stopped["position"] == 1_200_000
