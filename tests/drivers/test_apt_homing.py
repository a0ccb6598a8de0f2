"""Homing with the APT driver: home parameters read, status-polling fallback, refusals."""

from __future__ import annotations

import time

import pytest

from tests.drivers.conftest import SCALE, stage_config
from uvscope.drivers import apt_protocol as ap
from uvscope.drivers.thorlabs_apt import AptXYStage, NotHomedError
from uvscope.errors import MotionError


@pytest.fixture
def unhomed_stage(apt_emu):
    apt_emu.axes[0x21].position = 1_000_000
    xy = AptXYStage(stage_config(apt_emu.path), timing_scale=SCALE)
    xy.connect()
    yield xy
    xy.close()


def test_connect_reads_home_parameters_and_sizes_the_timeout_by_travel(unhomed_stage, apt_emu):
    assert not unhomed_stage.homed
    x = unhomed_stage.x
    assert x.home_velocity == pytest.approx(10.0, rel=1e-3)  # mm/s, from MOT_GET_HOMEPARAMS
    # 100 mm of soft-limit span at 10 mm/s, twice, plus 5 s for the index search
    assert x.home_timeout_s() == pytest.approx(5.0 + 2 * 100.0 / 10.0, rel=1e-3)
    assert apt_emu.frames_of(ap.MOT_REQ_HOMEPARAMS)


def test_a_lost_move_homed_is_caught_by_status_polling(unhomed_stage, apt_emu):
    apt_emu.inject("no_reply")  # swallows X's MOVE_HOMED
    t0 = time.monotonic()
    unhomed_stage.home()
    assert unhomed_stage.homed and time.monotonic() - t0 < 3.0
    assert all(ax.homed for ax in apt_emu.axes.values() if ax.bay in (0x21, 0x22))
    assert unhomed_stage.position_mm() == (0.0, 0.0)


def test_moves_before_homing_are_refused_by_the_driver_first(unhomed_stage, apt_emu):
    with pytest.raises(NotHomedError, match="not homed"):
        unhomed_stage.move_to_mm(50.0, 30.0)
    assert not apt_emu.frames_of(ap.MOT_MOVE_ABSOLUTE)


def test_a_move_the_controller_refuses_raises_at_once(unhomed_stage, apt_emu):
    unhomed_stage.home()
    apt_emu.axes[0x22].enabled = False  # e.g. the channel switched off from the front panel
    t0 = time.monotonic()
    with pytest.raises(MotionError, match="refused it .channel disabled"):
        unhomed_stage.move_to_mm(20.0, 20.0)
    assert time.monotonic() - t0 < 1.0
    assert apt_emu.refused == [(0x22, ap.MOT_MOVE_ABSOLUTE, "channel disabled")]
