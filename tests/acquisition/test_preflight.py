"""The engine's checks against the connected rig, before the folder exists, and what a rig
cannot do said by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FlatWorld
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.prepare import run_scan
from uvscope.config import RegionConfig, ScanConfig, WavelengthConfig
from uvscope.errors import ConfigError, LimitError, ScanError
from uvscope.io.scanfolder import ScanFolder
from uvscope.sim.devices import build_sim_rig


def _scan(**kw: object) -> ScanConfig:
    kw.setdefault("focus", {"mode": "fixed", "refocus_threshold": 0.0})
    return ScanConfig(
        region=RegionConfig(center_mm=(42.5, 32.5), rows=1, columns=2),
        wavelengths=(WavelengthConfig(nm=260, exposure_ms=50.0),),
        background={"frames": 2, "dark_frames": 2, "position_mm": (35.0, 30.0)},
        **kw,
    )


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        ({"wavelengths": ({"nm": 260, "exposure_ms": 2e4},)}, "wavelengths.0.exposure_ms"),
        ({"focus": {"mode": "fixed", "z_um": -5.0}}, "focus.z_um"),
        ({"focus": {"mode": "fixed", "wavelength_nm": 280}}, "focus.wavelength_nm"),
        (
            {"background": {"frames": 2, "dark_frames": 2, "position_mm": (42.5, 80.0)}},
            "background.position_mm",
        ),
    ],
)
def test_check_refuses_before_the_folder_exists(
    flat_rig, tmp_path: Path, change: dict, expect: str
) -> None:
    engine = ScanEngine(flat_rig, _scan().replace(**change), tmp_path / "out")
    with pytest.raises((ConfigError, LimitError), match=expect):
        engine.check()
    assert not (tmp_path / "out").exists()
    with pytest.raises(ScanError, match=expect):  # run() says the same, nothing written
        ScanEngine(flat_rig, _scan().replace(**change), tmp_path / "out").run()
    assert not (tmp_path / "out").exists()


def test_a_rig_without_a_dark_slot_says_the_darks_were_not_taken(
    small_rig_config, tmp_path: Path
) -> None:
    cfg = small_rig_config.replace(
        filter_wheel={**small_rig_config.filter_wheel.model_dump(), "dark_slot": None}
    )
    cam = cfg.camera
    rig = build_sim_rig(cfg, renderer=FlatWorld(cam.width_px, cam.height_px, cam.pixel_size_um))
    summary = run_scan(rig, _scan(), tmp_path / "out")
    assert summary.status == "complete"
    events = ScanFolder(tmp_path / "out").read_events()
    no_darks = [e for e in events if e["kind"] == "no-darks"]
    assert len(no_darks) == 1 and "dark_frames = 2" in no_darks[0]["message"]
