"""Shared fixtures: emulators served on pseudo-terminals at a fast speed factor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from uvscope.config import FilterWheelConfig
from uvscope.drivers.thorlabs_fw import ThorlabsFilterWheel
from uvscope.sim.emu_fw102c import EmuFW102C

#: emulated moves run this much faster than the real hardware
SCALE = 0.01


@pytest.fixture
def fw_emu(tmp_path) -> Iterator[EmuFW102C]:
    emu = EmuFW102C(link_dir=tmp_path, time_scale=SCALE, ms_per_slot=500.0)
    emu.start()
    yield emu
    emu.stop()


def fw_config(port: str, **changes) -> FilterWheelConfig:
    base = dict(port=port, move_ms_per_slot=500.0, reply_timeout_s=0.15, retries=2)
    base.update(changes)
    return FilterWheelConfig(**base)


@pytest.fixture
def wheel(fw_emu) -> Iterator[ThorlabsFilterWheel]:
    w = ThorlabsFilterWheel(fw_config(fw_emu.path), timing_scale=SCALE)
    w.connect()
    yield w
    w.close()
