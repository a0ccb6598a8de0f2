from pathlib import Path

import pytest

from uvscope.config import (
    RigConfig,
    ScanConfig,
    dump_toml,
    load_rig,
    load_scan,
    load_toml,
)
from uvscope.errors import ConfigError


def test_embedded_defaults_load():
    rig = load_rig(None)
    scan = load_scan(None)
    assert rig.camera.backend == "sim" and rig.camera.width_px == 1392
    assert [w.nm for w in scan.wavelengths] == [260]
    assert scan.overlap_percent == 15.0


def test_misspelt_field_is_named(tmp_path: Path):
    p = tmp_path / "scan.toml"
    p.write_text("overlap_percnt = 10\n[region]\ncenter_mm = [1, 2]\nrows = 1\ncolumns = 1\n")
    with pytest.raises(ConfigError) as exc:
        load_toml(ScanConfig, p)
    assert "overlap_percnt" in str(exc.value) and "unknown field" in str(exc.value)


def test_bad_wavelength_and_overlap_are_named(tmp_path: Path):
    p = tmp_path / "scan.toml"
    p.write_text("overlap_percent = 80\n[[wavelengths]]\nnm = 405\n")
    with pytest.raises(ConfigError) as exc:
        load_toml(ScanConfig, p)
    text = str(exc.value)
    assert "overlap_percent" in text and "wavelengths.0" in text and "405" in text


def test_region_needs_exactly_one_form():
    with pytest.raises(ValueError):
        ScanConfig.model_validate({"region": {"center_mm": [1, 2]}})
    with pytest.raises(ValueError):
        ScanConfig.model_validate(
            {"region": {"corners_mm": [[0, 0], [1, 1]], "center_mm": [1, 1], "size_mm": [1, 1]}}
        )


def test_toml_round_trip(tmp_path: Path):
    scan = ScanConfig.model_validate(
        {
            "name": "x",
            "region": {"corners_mm": [[40, 30], [41, 31]]},
            "wavelengths": [{"nm": 260, "exposure_ms": 40}, {"nm": 300, "exposure_ms": 20}],
        }
    )
    p = tmp_path / "s.toml"
    p.write_text(dump_toml(scan))
    assert load_toml(ScanConfig, p) == scan
    rig = RigConfig()
    p.write_text(dump_toml(rig))
    assert load_toml(RigConfig, p) == rig


def test_wheel_slots_validated():
    with pytest.raises(ValueError, match="used twice"):
        RigConfig.model_validate({"filter_wheel": {"slots": {"260": 1, "280": 1}}})
    with pytest.raises(ValueError, match="dark_slot"):
        RigConfig.model_validate({"filter_wheel": {"slots": {"260": 1}, "dark_slot": 1}})


def test_missing_file_and_bad_toml(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such file"):
        load_toml(ScanConfig, tmp_path / "nope.toml")
    p = tmp_path / "bad.toml"
    p.write_text("region = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(ScanConfig, p)
