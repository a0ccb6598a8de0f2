"""Day-one acceptance run on a real rig: ``pytest -m hardware --rig rig.toml``.

It MOVES THE STAGE AND FOCUS (homing runs every axis to its reference switch, then a 3-tile
scan at the middle of the soft limits): put a slide in, clear the stage, then run it. Without
``--rig`` every test here skips. Each test is one step a lab checks on its rig before
trusting it, in order: identity, homing, limits, a scan.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from uvscope.cli.devices import check_rig
from uvscope.config import RegionConfig, ScanConfig, WavelengthConfig, load_rig
from uvscope.drivers import homing
from uvscope.drivers.rig import build_rig
from uvscope.errors import LimitError

pytestmark = pytest.mark.hardware


@pytest.fixture(scope="module")
def rig_file(request) -> Path:
    path = request.config.getoption("--rig")
    if path is None:
        pytest.skip("the acceptance run needs a rig: pytest -m hardware --rig rig.toml")
    return Path(path)


@pytest.fixture(scope="module")
def rig(rig_file):
    rig = build_rig(load_rig(rig_file))
    rig.connect()
    yield rig
    rig.close()


def test_1_every_device_answers_with_its_identity(rig_file):
    rows = check_rig(load_rig(rig_file), rig_path=rig_file)
    assert [r[0] for r in rows] == ["camera", "filter_wheel", "stage", "focus"]
    for name, _, details, verdict in rows:
        assert verdict == "OK" or verdict.startswith("NOT HOMED"), f"{name}: {verdict}"
        assert details, f"{name} gave no identity"


def test_2_homing_every_axis(rig):
    z_before = rig.focus.position_um()  # where the operator focused, if the focus was homed
    plan = homing.plan_homing(rig.stage, rig.focus, homing.parse_axes(["all"]), 0.0)
    result = homing.home(rig.stage, rig.focus, plan)
    assert all(h in (True, None) for h in result.homed.values()), result.homed
    lo, hi = rig.focus.limits_um
    if lo <= z_before <= hi:
        rig.focus.move_to_um(z_before)  # homing lost the focus: back to it for the scan


def test_3_soft_limits_hold(rig):
    before = rig.stage.position_mm()
    (x0, x1), (y0, y1) = rig.stage.x_limits_mm, rig.stage.y_limits_mm
    for x, y in ((x1 + 0.01, y0), (x0 - 0.01, y0), (x0, y1 + 0.01)):
        with pytest.raises(LimitError):
            rig.stage.move_to_mm(x, y)
    assert rig.stage.position_mm() == pytest.approx(before, abs=1e-3)
    z_before = rig.focus.position_um()
    with pytest.raises(LimitError):
        rig.focus.move_to_um(rig.focus.limits_um[1] + 1.0)
    assert rig.focus.position_um() == pytest.approx(z_before, abs=0.1)


def test_4_a_three_tile_scan(rig, tmp_path):
    from uvscope.acquisition.prepare import run_scan

    (x0, x1), (y0, y1) = rig.stage.x_limits_mm, rig.stage.y_limits_mm
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    nm = min(int(k) for k in rig.config.filter_wheel.slots)
    scan = ScanConfig(
        name="acceptance",
        region=RegionConfig(center_mm=centre, rows=1, columns=3),
        wavelengths=(WavelengthConfig(nm=nm, exposure_ms=10.0),),
        background={"position_mm": centre, "frames": 2, "dark_frames": 1},
    )
    summary = run_scan(rig, scan, tmp_path / "scan")
    assert summary.status == "complete" and summary.tiles_done == 3
    assert len(list((tmp_path / "scan" / "raw").glob("*.ome.tif"))) == 3  # tiles derive from raw
