"""Thorlabs APT messages, sans-IO: bytes in, frames out, and back.

The driver (host side) and the emulator (controller side) both use this module, so they
cannot disagree on a layout. Host requests are packed by ``thorlabs_apt_protocol``; replies
are parsed by its parsers where it has one. The package has no encoders for controller
replies, so those are packed here with the same struct layouts (hardware.md).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import thorlabs_apt_protocol as apt
from thorlabs_apt_protocol.parsing import id_to_func

HOST = 0x01
RACK = 0x11
USB_UNIT = 0x50
BAYS = tuple(range(0x21, 0x2B))
CHANNEL = 1  # chan_ident inside a bay's messages

# message ids
HW_REQ_INFO = 0x0005
HW_GET_INFO = 0x0006
HW_START_UPDATEMSGS = 0x0011
HW_STOP_UPDATEMSGS = 0x0012
HW_NO_FLASH_PROGRAMMING = 0x0018
MOD_SET_CHANENABLESTATE = 0x0210
MOD_REQ_CHANENABLESTATE = 0x0211
MOD_GET_CHANENABLESTATE = 0x0212
MOT_SET_VELPARAMS = 0x0413
MOT_REQ_VELPARAMS = 0x0414
MOT_GET_VELPARAMS = 0x0415
MOT_REQ_STATUSBITS = 0x0429
MOT_GET_STATUSBITS = 0x042A
MOT_MOVE_HOME = 0x0443
MOT_MOVE_HOMED = 0x0444
MOT_MOVE_RELATIVE = 0x0448
MOT_MOVE_ABSOLUTE = 0x0453
MOT_MOVE_COMPLETED = 0x0464
MOT_MOVE_STOP = 0x0465
MOT_MOVE_STOPPED = 0x0466
MOT_REQ_DCSTATUSUPDATE = 0x0490
MOT_GET_DCSTATUSUPDATE = 0x0491
MOT_ACK_DCSTATUSUPDATE = 0x0492
HW_DISCONNECT = 0x0002
HW_RICHRESPONSE = 0x0081
RACK_REQ_BAYUSED = 0x0060
RACK_GET_BAYUSED = 0x0061
MOD_IDENTIFY = 0x0223
RACK_REQ_STATUSBITS = 0x0226
RACK_GET_STATUSBITS = 0x0227  # the APT manual's id; thorlabs_apt_protocol parses 0x0226
MOT_SET_POSCOUNTER = 0x0410
MOT_REQ_POSCOUNTER = 0x0411
MOT_GET_POSCOUNTER = 0x0412
MOT_REQ_ENCCOUNTER = 0x040A
MOT_GET_ENCCOUNTER = 0x040B
MOT_SET_JOGPARAMS = 0x0416
MOT_REQ_JOGPARAMS = 0x0417
MOT_GET_JOGPARAMS = 0x0418
MOT_SET_LIMSWITCHPARAMS = 0x0423
MOT_REQ_LIMSWITCHPARAMS = 0x0424
MOT_GET_LIMSWITCHPARAMS = 0x0425
MOT_SET_GENMOVEPARAMS = 0x043A
MOT_REQ_GENMOVEPARAMS = 0x043B
MOT_GET_GENMOVEPARAMS = 0x043C
MOT_SET_HOMEPARAMS = 0x0440
MOT_REQ_HOMEPARAMS = 0x0441
MOT_GET_HOMEPARAMS = 0x0442
MOT_SET_MOVERELPARAMS = 0x0445
MOT_REQ_MOVERELPARAMS = 0x0446
MOT_GET_MOVERELPARAMS = 0x0447
MOT_SET_MOVEABSPARAMS = 0x0450
MOT_REQ_MOVEABSPARAMS = 0x0451
MOT_GET_MOVEABSPARAMS = 0x0452
MOT_MOVE_VELOCITY = 0x0457
MOT_MOVE_JOG = 0x046A
MOT_REQ_STATUSUPDATE = 0x0480
MOT_GET_STATUSUPDATE = 0x0481
MOT_REQ_STAGEAXISPARAMS = 0x04F1
MOT_GET_STAGEAXISPARAMS = 0x04F2
MOT_SET_TRIGGER = 0x0500
MOT_REQ_TRIGGER = 0x0501
MOT_GET_TRIGGER = 0x0502

#: the ids our driver and emulator understand; a well-formed frame with another id is
#: skipped whole (by its header's length), not byte by byte
KNOWN_IDS = frozenset(id_to_func) | {
    v
    for k, v in dict(globals()).items()
    if k.startswith(("HW_", "MOD_", "MOT_", "RACK_")) and isinstance(v, int)
}
END_OF_MOVE = frozenset({MOT_MOVE_COMPLETED, MOT_MOVE_STOPPED, MOT_MOVE_HOMED})

#: APT addresses: host, rack, bays 0x21..0x2A, a single USB unit. A header naming
#: anything else cannot start a frame (line noise)
ADDRESSES = frozenset({HOST, RACK, USB_UNIT, *BAYS})

# status bits (yaq parsing.py; pyLabLib)
LIMIT_FWD = 0x1
LIMIT_REV = 0x2
MOVING_FWD = 0x10
MOVING_REV = 0x20
HOMING = 0x200
HOMED = 0x400
SETTLED = 0x2000
MOTION_ERROR = 0x4000
ENABLED = 0x80000000

#: MOT_SET_LIMSWITCHPARAMS soft-limit modes
SOFT_LIMIT_IGNORE = 1
SOFT_LIMIT_IMMEDIATE = 2
SOFT_LIMIT_PROFILED = 3

INT32 = (-(2**31), 2**31 - 1)
MAX_DATA = 255  # "no data packet exceeds 255 bytes": a longer length is line noise


@dataclass(frozen=True)
class Frame:
    """One APT message: header fields plus the data of a long-form message."""

    msgid: int
    dest: int
    source: int
    param1: int = 0
    param2: int = 0
    data: bytes = b""
    long: bool = False

    def to_bytes(self) -> bytes:
        if self.long:
            head = struct.pack("<HHBB", self.msgid, len(self.data), self.dest | 0x80, self.source)
            return head + self.data
        return struct.pack(
            "<HBBBB", self.msgid, self.param1 & 0xFF, self.param2 & 0xFF, self.dest, self.source
        )

    def parsed(self) -> dict[str, Any]:
        """Fields from thorlabs_apt_protocol's parser for this id (replies only)."""
        fields = id_to_func[self.msgid](self.to_bytes())
        if not isinstance(fields, dict):
            raise TypeError(f"the APT parser gave {type(fields).__name__} for 0x{self.msgid:04x}")
        return fields


def plausible_header(head: bytes) -> bool:
    """Could these 6 bytes start an APT frame? Known addresses, a sane data length."""
    length = head[2] | head[3] << 8
    long = bool(head[4] & 0x80)
    if long and length > MAX_DATA:
        return False
    return (head[4] & 0x7F) in ADDRESSES and head[5] in ADDRESSES


class FrameReader:
    """Split a byte stream into frames.

    Bytes that cannot start a frame (unknown addresses, an absurd length) are skipped one by
    one and counted in ``garbage``; a well-formed frame with an id we do not know is skipped
    whole, by its header's length, and counted in ``unknown``, so its data bytes never turn
    into phantom frames.
    """

    def __init__(self) -> None:
        self.buf = b""
        self.garbage = 0
        self.unknown = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames: list[Frame] = []
        while len(self.buf) >= 6:
            msgid, length = struct.unpack_from("<HH", self.buf)
            long = bool(self.buf[4] & 0x80)
            if not plausible_header(self.buf[:6]):
                self.buf = self.buf[1:]
                self.garbage += 1
                continue
            size = 6 + (length if long else 0)
            if len(self.buf) < size:
                break
            raw, self.buf = self.buf[:size], self.buf[size:]
            if msgid not in KNOWN_IDS:
                self.unknown += 1
                continue
            dest, source = raw[4] & 0x7F, raw[5]
            if long:
                frames.append(Frame(msgid, dest, source, data=raw[6:], long=True))
            else:
                frames.append(Frame(msgid, dest, source, raw[2], raw[3]))
        return frames

    def clear(self) -> None:
        self.buf = b""


# ---------------------------------------------------------------------- status


@dataclass(frozen=True)
class AxisStatus:
    """The 14-byte DC status block of a BBD channel."""

    chan: int
    position: int
    velocity: int
    bits: int

    @property
    def homed(self) -> bool:
        return bool(self.bits & HOMED)

    @property
    def homing(self) -> bool:
        return bool(self.bits & HOMING)

    @property
    def moving(self) -> bool:
        return bool(self.bits & (MOVING_FWD | MOVING_REV | HOMING))

    @property
    def settled(self) -> bool:
        return bool(self.bits & SETTLED)

    @property
    def limit_switch(self) -> bool:
        return bool(self.bits & (LIMIT_FWD | LIMIT_REV))

    @property
    def motion_error(self) -> bool:
        return bool(self.bits & MOTION_ERROR)

    @property
    def enabled(self) -> bool:
        return bool(self.bits & ENABLED)

    def to_bytes(self) -> bytes:
        return struct.pack("<HlhHL", self.chan, self.position, self.velocity, 0, self.bits)

    @classmethod
    def from_bytes(cls, data: bytes) -> AxisStatus:
        chan, position, velocity, _, bits = struct.unpack_from("<HlhHL", data)
        return cls(chan, position, velocity, bits)


# ---------------------------------------------------------------------- host -> controller


def check_counts(counts: object, limits: tuple[int, int] | None = None) -> int:
    """The last gate before a position is packed: a plain int32 inside ``limits``.

    Raises ValueError; the driver turns it into LimitError. Called where the bytes are made,
    so no caller, however confused, can get an out-of-limits move onto the wire.
    """
    if isinstance(counts, bool) or not isinstance(counts, int):
        if isinstance(counts, float) and math.isfinite(counts) and counts.is_integer():
            counts = int(counts)
        else:
            raise ValueError(f"position {counts!r} is not a whole number of counts")
    assert isinstance(counts, int)
    if not INT32[0] <= counts <= INT32[1]:
        raise ValueError(f"position {counts} counts does not fit in 32 bits")
    if limits is not None and not limits[0] <= counts <= limits[1]:
        raise ValueError(f"position {counts} counts is outside the soft limits {limits}")
    return counts


def _frame(encoded: object) -> bytes:
    """An encoder's result from the (untyped) thorlabs_apt_protocol, checked to be bytes."""
    if not isinstance(encoded, bytes):
        raise TypeError(f"an APT encoder gave {type(encoded).__name__}, not bytes")
    return encoded


def move_absolute(bay: int, counts: int, limits: tuple[int, int]) -> bytes:
    return _frame(apt.mot_move_absolute(bay, HOST, CHANNEL, check_counts(counts, limits)))


def move_relative(bay: int, distance: int, from_counts: int, limits: tuple[int, int]) -> bytes:
    """A relative move whose end point (``from_counts + distance``) is checked too."""
    check_counts(from_counts + check_counts(distance), limits)
    return _frame(apt.mot_move_relative(bay, HOST, CHANNEL, distance))


def set_velparams(bay: int, acceleration: int, max_velocity: int) -> bytes:
    return _frame(
        apt.mot_set_velparams(
            bay, HOST, CHANNEL, 0, check_counts(acceleration), check_counts(max_velocity)
        )
    )


def no_flash_programming(dest: int) -> bytes:
    return _frame(apt.hw_no_flash_programming(dest, HOST))


def stop_update_messages(dest: int) -> bytes:
    """HW_STOP_UPDATEMSGS: another program may have left the controller streaming status."""
    return _frame(apt.hw_stop_updatemsgs(dest, HOST))


def req_info(dest: int) -> bytes:
    return _frame(apt.hw_req_info(dest, HOST))


def enable_channel(bay: int, enable: bool = True) -> bytes:
    return _frame(apt.mod_set_chanenablestate(bay, HOST, CHANNEL, 1 if enable else 2))


def move_home(bay: int) -> bytes:
    return _frame(apt.mot_move_home(bay, HOST, CHANNEL))


def move_stop(bay: int, immediate: bool = False) -> bytes:
    return _frame(apt.mot_move_stop(bay, HOST, CHANNEL, 1 if immediate else 2))


def req_velparams(bay: int) -> bytes:
    return _frame(apt.mot_req_velparams(bay, HOST, CHANNEL))


def req_status(bay: int) -> bytes:
    return _frame(apt.mot_req_dcstatusupdate(bay, HOST, CHANNEL))


def ack_status(dest: int) -> bytes:
    return _frame(apt.mot_ack_dcstatusupdate(dest, HOST))


def req_homeparams(bay: int) -> bytes:
    return _frame(apt.mot_req_homeparams(bay, HOST, CHANNEL))


def req_stageaxisparams(bay: int) -> bytes:
    return _frame(apt.mot_req_stageaxisparams(bay, HOST, CHANNEL))


def req_limswitchparams(bay: int) -> bytes:
    return _frame(apt.mot_req_limswitchparams(bay, HOST, CHANNEL))


def set_soft_limits(
    bay: int,
    limits: tuple[int, int],
    *,
    mode: int = SOFT_LIMIT_PROFILED,
    hard_cw: int = 0x03,
    hard_ccw: int = 0x03,
) -> bytes:
    """MOT_SET_LIMSWITCHPARAMS: the controller's own soft limits (counts), so a move that
    another program sends stops there too. Hard-limit codes 0x03: switch makes on contact
    (the MLS203's); ``mode`` 3 stops a move there with its profile."""
    lo, hi = (check_counts(v) for v in limits)
    if lo < 0:
        raise ValueError(f"soft limit {lo} counts is negative; the controller takes 0..2^32")
    # cw is the forward (upper) end on a BBD
    return _frame(apt.mot_set_limswitchparams(bay, HOST, CHANNEL, hard_cw, hard_ccw, hi, lo, mode))


# ---------------------------------------------------------------------- controller -> host


def get_info(
    source: int,
    *,
    serial: int,
    model: str,
    hw_type: int,
    firmware: tuple[int, int, int],
    notes: str,
    hw_version: int,
    n_channels: int,
) -> bytes:
    # firmware bytes go minor, interim, major, 0 (the package reverses the first three)
    fw = (firmware[2], firmware[1], firmware[0], 0)
    data = struct.pack(
        "<l8sH4B48s12sHHH",
        serial,
        model.encode("ascii")[:8],
        hw_type,
        *fw,
        notes.encode("ascii")[:48],
        b"",
        hw_version,
        0,
        n_channels,
    )
    return Frame(HW_GET_INFO, HOST, source, data=data, long=True).to_bytes()


def get_chanenable(source: int, enabled: bool) -> bytes:
    return Frame(MOD_GET_CHANENABLESTATE, HOST, source, CHANNEL, 1 if enabled else 2).to_bytes()


def get_velparams(source: int, min_velocity: int, acceleration: int, max_velocity: int) -> bytes:
    data = struct.pack("<Hlll", CHANNEL, min_velocity, acceleration, max_velocity)
    return Frame(MOT_GET_VELPARAMS, HOST, source, data=data, long=True).to_bytes()


def move_homed(source: int) -> bytes:
    return Frame(MOT_MOVE_HOMED, HOST, source, CHANNEL, 0).to_bytes()


def status_message(msgid: int, source: int, status: AxisStatus) -> bytes:
    """MOVE_COMPLETED, MOVE_STOPPED or GET_DCSTATUSUPDATE with the status block."""
    return Frame(msgid, HOST, source, data=status.to_bytes(), long=True).to_bytes()


def get_statusbits(source: int, bits: int) -> bytes:
    data = struct.pack("<HL", CHANNEL, bits)
    return Frame(MOT_GET_STATUSBITS, HOST, source, data=data, long=True).to_bytes()


def long_reply(msgid: int, source: int, fmt: str, *values: int) -> bytes:
    """A controller reply whose data is ``struct.pack(fmt, CHANNEL, *values)``."""
    return Frame(msgid, HOST, source, data=struct.pack(fmt, CHANNEL, *values), long=True).to_bytes()


def short_reply(msgid: int, source: int, param1: int, param2: int) -> bytes:
    return Frame(msgid, HOST, source, param1, param2).to_bytes()


def get_statusupdate(source: int, status: AxisStatus, encoder: int) -> bytes:
    """MOT_GET_STATUSUPDATE: position, encoder count and status bits (no velocity)."""
    return long_reply(MOT_GET_STATUSUPDATE, source, "<HllL", status.position, encoder, status.bits)


def rich_response(source: int, msg_ident: int, code: int, notes: str) -> bytes:
    """HW_RICHRESPONSE: the controller's report of a command it could not carry out."""
    data = struct.pack("<HH64s", msg_ident, code, notes.encode("ascii")[:64])
    return Frame(HW_RICHRESPONSE, HOST, source, data=data, long=True).to_bytes()


#: struct layouts of the long host messages the emulator reads (after the channel word)
REQUEST_LAYOUTS: dict[int, tuple[str, tuple[str, ...]]] = {
    MOT_MOVE_ABSOLUTE: ("<Hl", ("counts",)),
    MOT_MOVE_RELATIVE: ("<Hl", ("counts",)),
    MOT_SET_VELPARAMS: ("<Hlll", ("min_velocity", "acceleration", "max_velocity")),
    MOT_SET_POSCOUNTER: ("<Hl", ("counts",)),
    MOT_SET_MOVEABSPARAMS: ("<Hl", ("counts",)),
    MOT_SET_MOVERELPARAMS: ("<Hl", ("counts",)),
    MOT_SET_GENMOVEPARAMS: ("<Hl", ("backlash",)),
    MOT_SET_JOGPARAMS: (
        "<HH4lH",
        ("jog_mode", "step_size", "min_velocity", "acceleration", "max_velocity", "stop_mode"),
    ),
    MOT_SET_HOMEPARAMS: ("<3Hll", ("home_dir", "limit_switch", "home_velocity", "offset")),
    MOT_SET_LIMSWITCHPARAMS: (
        "<3HLLH",
        ("cw_hard", "ccw_hard", "cw_soft", "ccw_soft", "soft_mode"),
    ),
}


def decode_request(frame: Frame) -> dict[str, Any] | None:
    """Fields of a host request, for the emulator (the package parses replies only).

    A header-only MOVE_ABSOLUTE / MOVE_RELATIVE (valid: "move by the stored parameters")
    gives ``counts = None``; a long message too short for its layout gives None (a
    malformed request the controller ignores).
    """
    layout = REQUEST_LAYOUTS.get(frame.msgid)
    if layout is None:
        return {"chan": frame.param1, "param2": frame.param2}
    if not frame.long:
        if frame.msgid in (MOT_MOVE_ABSOLUTE, MOT_MOVE_RELATIVE):
            return {"chan": frame.param1, "counts": None}
        return None  # a SET_* message without its data block
    fmt, names = layout
    if len(frame.data) < struct.calcsize(fmt):
        return None
    chan, *values = struct.unpack_from(fmt, frame.data)
    return {"chan": chan, **dict(zip(names, values, strict=True))}
