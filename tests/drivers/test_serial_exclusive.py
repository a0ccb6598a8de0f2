"""Serial ports are opened exclusively: a second process on the same controller is refused."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from uvscope.drivers.serial_link import SerialLink
from uvscope.errors import DeviceError

TRY_OPEN = """
import sys
from uvscope.drivers.serial_link import SerialLink
from uvscope.errors import DeviceError
try:
    SerialLink(sys.argv[1]).open()
    print("opened")
except DeviceError as err:
    print("refused:", err)
"""


def test_a_second_process_cannot_open_an_open_port() -> None:
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    link = SerialLink(name)
    try:
        link.open()
        out = subprocess.run(
            [sys.executable, "-c", TRY_OPEN, name],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert out.stdout.startswith("refused:"), out.stdout + out.stderr
        assert "in use by another program" in out.stdout
        with pytest.raises(DeviceError, match="in use"):
            SerialLink(name).open()  # a second link in this process too
    finally:
        link.close()
        os.close(master)
        os.close(slave)
