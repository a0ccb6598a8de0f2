"""Shared fixtures: emulators served on pseudo-terminals at a fast speed factor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from uvscope.config import FilterWheelConfig, FocusConfig, StageConfig
from uvscope.drivers.thorlabs_apt import build_apt_devices
from uvscope.drivers.thorlabs_fw import ThorlabsFilterWheel
from uvscope.sim.emu_apt import EmuAptBBD
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
    base = dict(backend="serial", port=port, move_ms_per_slot=500.0, reply_timeout_s=0.3, retries=2)
    base.update(changes)
    return FilterWheelConfig(**base)


@pytest.fixture
def wheel(fw_emu) -> Iterator[ThorlabsFilterWheel]:
    w = ThorlabsFilterWheel(fw_config(fw_emu.path), timing_scale=SCALE)
    w.connect()
    yield w
    w.close()


# ---------------------------------------------------------------------- APT

X_LIMITS = (5.0, 105.0)
Y_LIMITS = (5.0, 70.0)
Z_LIMITS = (100.0, 9000.0)


def apt_soft_limits() -> dict[int, tuple[int, int]]:
    return {
        0x21: (round(X_LIMITS[0] * 20_000), round(X_LIMITS[1] * 20_000)),
        0x22: (round(Y_LIMITS[0] * 20_000), round(Y_LIMITS[1] * 20_000)),
        0x23: (round(Z_LIMITS[0] * 20), round(Z_LIMITS[1] * 20)),
    }


def stage_config(port: str, **changes) -> StageConfig:
    base = dict(
        port=port,
        x_limits_mm=X_LIMITS,
        y_limits_mm=Y_LIMITS,
        velocity_mm_s=100.0,
        acceleration_mm_s2=1000.0,
        settle_ms=0.0,
        reply_timeout_s=0.25,
        retries=2,
        keepalive_s=0.2,
    )
    base.update(changes)
    return StageConfig(backend="serial", **base)


def focus_config(port: str, **changes) -> FocusConfig:
    base = dict(port=port, limits_um=Z_LIMITS, settle_ms=0.0)
    base.update(changes)
    return FocusConfig(backend="serial", **base)


@pytest.fixture
def apt_emu(tmp_path) -> Iterator[EmuAptBBD]:
    emu = EmuAptBBD(link_dir=tmp_path, time_scale=SCALE, soft_limits=apt_soft_limits())
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def stage_focus(apt_emu):
    xy, z = build_apt_devices(
        stage_config(apt_emu.path, home_on_connect=True),
        focus_config(apt_emu.path, home_on_connect=True),
        timing_scale=SCALE,
    )
    xy.connect()
    z.connect()
    yield xy, z
    z.close()
    xy.close()
