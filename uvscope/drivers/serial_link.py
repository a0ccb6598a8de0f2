"""One serial port with the error handling every serial driver needs.

A USB serial adapter can vanish (cable pulled, hub reset) and come back under the same name
(udev symlink). ``SerialLink`` turns pyserial's many failure types into ``LinkLost`` so a driver
can reopen the port once and repeat its exchange, and reports a missing port as
``DeviceNotFound`` with a hint instead of a bare ``SerialException``.
"""

from __future__ import annotations

import errno
import os
import stat
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serial

from uvscope.errors import DeviceDisconnected, DeviceError, DeviceNotFound

SerialFactory = Callable[..., Any]

#: what a vanished port raises: pyserial wraps most errors, but flush() leaks termios.error
PORT_ERRORS = (OSError, serial.SerialException, termios.error)


def port_holders(port: str) -> list[str]:
    """Other processes that have ``port`` open, as "pid N (name)" (Linux ``/proc``; empty
    elsewhere or where their file descriptors cannot be read), to name who holds a port."""
    try:
        rdev = os.stat(port).st_rdev
    except OSError:
        return []
    holders = []
    for proc in Path("/proc").glob("[0-9]*"):
        if proc.name == str(os.getpid()):
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(fd)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == rdev:
                name = (proc / "comm").read_text(errors="replace").strip()
                holders.append(f"pid {proc.name} ({name})")
                break
    return holders


def holders_hint(port: str) -> str:
    """'; held by pid N (name), ...' when other processes have ``port`` open, else ''."""
    holders = port_holders(port)
    return f"; held by {', '.join(holders)}" if holders else ""


class LinkLost(DeviceDisconnected):
    """The port failed mid-exchange; the driver may reopen it once."""


class SerialLink:
    """A pyserial port plus the lock that keeps each write+read exchange whole.

    ``apt_open_sequence`` applies the APT start-up ritual (wait 50 ms, purge, wait 50 ms, set
    RTS); setting RTS fails on a pseudo-terminal (ENOTTY), so it is best effort.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        rtscts: bool = False,
        read_timeout_s: float = 0.01,
        apt_open_sequence: bool = False,
        serial_factory: SerialFactory | None = None,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.rtscts = rtscts
        self.read_timeout_s = read_timeout_s
        self.apt_open_sequence = apt_open_sequence
        self._factory = serial_factory or serial.Serial
        self._ser: Any = None
        #: held around every exchange (write + the reads that answer it); re-entrant so a
        #: driver can nest a status poll inside a longer locked operation
        self.lock = threading.RLock()
        self.reopen_count = 0

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def open(self) -> None:
        if self._ser is not None:
            return
        try:
            ser = self._factory(
                port=self.port,
                baudrate=self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                rtscts=self.rtscts,
                timeout=self.read_timeout_s,
                write_timeout=2.0,
                # one process per port: a second uvscope (or a terminal program) on the same
                # controller would interleave commands and drive the stage from two places
                exclusive=True,
            )
        except (serial.SerialException, OSError) as err:
            if "exclusively lock" in str(err):
                raise DeviceError(
                    f"serial port {self.port} is in use by another program (another uvscope "
                    f"scan or GUI, Kinesis, a script or a terminal{holders_hint(self.port)}); "
                    "close it first"
                ) from None
            raise DeviceNotFound(
                f"cannot open serial port {self.port}: {err}. Check the cable and power, the "
                "port name in the rig config, and that your user may use it (group dialout)"
            ) from None
        if self.apt_open_sequence:
            time.sleep(0.05)
            ser.reset_input_buffer()
            ser.reset_output_buffer()
            time.sleep(0.05)
            try:
                ser.rts = True
            except (OSError, serial.SerialException) as err:
                # a pseudo-terminal has no modem lines (ENOTTY); a real FTDI port has them
                if getattr(err, "errno", None) not in (errno.ENOTTY, errno.EINVAL, None):
                    raise
        self._ser = ser

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except PORT_ERRORS:
                pass  # the port is already gone; nothing left to release

    def reopen(self) -> None:
        """Close and open again; DeviceDisconnected when the port does not come back."""
        self.close()
        self.reopen_count += 1
        try:
            self.open()
        except DeviceNotFound as err:
            raise DeviceDisconnected(
                f"lost the connection to {self.port} and could not reopen it: {err}"
            ) from None

    def _port(self) -> Any:
        if self._ser is None:
            raise LinkLost(f"serial port {self.port} is not open")
        return self._ser

    def write(self, data: bytes) -> None:
        try:
            self._port().write(data)
            self._port().flush()
        except PORT_ERRORS as err:
            raise LinkLost(f"write to {self.port} failed: {err}") from None

    def read_some(self) -> bytes:
        """Whatever arrives within the read timeout (possibly nothing)."""
        try:
            ser = self._port()
            data: bytes = ser.read(max(1, ser.in_waiting))
            return data
        except PORT_ERRORS as err:
            raise LinkLost(f"read from {self.port} failed: {err}") from None

    def discard_input(self) -> None:
        try:
            self._port().reset_input_buffer()
        except PORT_ERRORS as err:
            raise LinkLost(f"{self.port}: {err}") from None
