"""The scan set-up form: validation beside the fields and the TOML the CLI reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QComboBox

from uvscope.config import RegionConfig, ScanConfig, WavelengthConfig, load_toml
from uvscope.errors import ConfigError
from uvscope.gui.scan_form import ScanForm, error_fields


@pytest.fixture
def form(qtbot):
    f = ScanForm()
    qtbot.addWidget(f)
    return f


def test_default_form_is_the_default_scan(form):
    assert form.config() == ScanConfig()


def test_toml_round_trip_is_what_the_cli_reads(form, tmp_path: Path):
    cfg = ScanConfig(
        name="slide 7",
        region=RegionConfig(corners_mm=((40.0, 30.0), (41.5, 31.2))),
        overlap_percent=20.0,
        order="raster",
        wavelengths=(
            WavelengthConfig(nm=260, exposure_ms=40.0),
            WavelengthConfig(nm=300, exposure_ms=12.5),
        ),
        output_dir=tmp_path / "out",
    ).replace(
        analysis={"enabled": True, "stop_after_wbc": 150},
        background={"position_mm": (33.0, 22.0), "frames": 4, "dark_frames": 2},
        focus={"z_um": 5010.5},
    )
    form.set_config(cfg)
    path = tmp_path / "scan.toml"
    form.save(path)
    assert load_toml(ScanConfig, path) == cfg
    other = ScanForm()
    assert other.load(path) == cfg
    assert other.config() == cfg


def test_every_field_survives_a_load_and_save(form, tmp_path: Path):
    """Fields the form has no hand-made widget for (focus map, background repeats, analysis
    models) are edited generically and must not be lost or reset."""
    cfg = ScanConfig(
        region=RegionConfig(center_mm=(41.0, 30.0), size_mm=(0.8, 0.5)),
        output_dir=tmp_path / "o",
    ).replace(
        focus={
            "mode": "map",
            "map_points": 9,
            "surface": "quadratic",
            "metric": "brenner",
            "wavelength_nm": 280,
            "sweep_range_um": 30.0,
        },
        background={"repeat_every_tiles": 25, "drift_threshold_percent": 3.5},
        analysis={"enabled": True, "models": "small", "device": "cpu", "report": False},
    )
    form.set_config(cfg)
    assert form.config() == cfg
    path = tmp_path / "scan.toml"
    form.save(path)
    assert load_toml(ScanConfig, path) == cfg


def test_errors_show_beside_their_fields(form):
    form.overlap.setValue(60)
    assert form.overlap.value() < 50  # the box cannot hold what the scan file refuses
    form.wl_on[280].setChecked(True)
    form.wl_exposure[280].setValue(0)
    with pytest.raises(ConfigError):
        form.config()
    assert form.error_text("wavelength 280") == "must be greater than 0"
    assert form.error_text("wavelength 260") == ""
    # fixing the fields clears the messages
    form.overlap.setValue(10)
    form.wl_exposure[280].setValue(30)
    assert form.validate() is not None
    assert form.error_text("wavelength 280") == ""


def test_model_level_errors_land_on_their_section(form):
    form.by_centre.setChecked(True)
    form.rows.setValue(0)
    assert form.validate() is None
    assert "greater than 0" in form.error_text("region")
    form.rows.setValue(2)
    for cb in form.wl_on.values():
        cb.setChecked(False)
    assert form.validate() is None
    assert "at least one" in form.error_text("wavelengths")
    assert form.error_text("region") == ""


def test_set_corner_here_uses_the_live_stage_position(form):
    form.position_mm = lambda: (41.25, 30.5)
    form.by_corners.setChecked(True)
    form.corner_here[1].click()
    form.bg_here.click()
    cfg = form.config()
    assert cfg.region.corners_mm is not None
    assert cfg.region.corners_mm[1] == (41.25, 30.5)
    assert cfg.background.position_mm == (41.25, 30.5)


def test_here_without_a_position_says_what_to_do(form):
    form.by_corners.setChecked(True)
    form.corner_here[0].click()
    assert "connect the rig" in form.error_text("region")


def test_error_fields_parses_config_error_lines():
    msg = "scan: invalid configuration\n  overlap_percent: too big\n  region: bad"
    assert error_fields(msg) == [("overlap_percent", "too big"), ("region", "bad")]


def _weights(root, name: str = "", kinds=("segment", "classify", "stain")) -> None:
    folder = root / name if name else root
    folder.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        card = {"kind": kind, "n_parameters": 1_250_000, "pixel_size_um": 0.32}
        (folder / f"{kind}.json").write_text(json.dumps(card))


def test_model_sets_listed_default_first(tmp_path):
    from uvscope.gui.model_choice import model_choices

    _weights(tmp_path)
    _weights(tmp_path, "donor-retrained")
    _weights(tmp_path, "half", kinds=("stain",))  # no segment/classify: not a set
    choices = model_choices(tmp_path)
    assert [c.label for c in choices] == ["default", "donor-retrained"]
    assert choices[0].value == "default" and choices[0].complete
    assert choices[1].value == str(tmp_path / "donor-retrained")
    assert "segment: 1.25 M parameters, 0.32 um/px" in choices[0].description
    (tmp_path / "classify.json").unlink()
    first = model_choices(tmp_path)[0]
    assert first.label == "default (incomplete)" and "missing classify" in first.description
    assert model_choices(tmp_path / "absent")[0].value == "default"


def test_model_combo_sets_the_config_value(qtbot, tmp_path):
    from uvscope.gui.scan_form import ModelCombo

    _weights(tmp_path)
    _weights(tmp_path, "retrained")
    combo = ModelCombo(root=tmp_path)
    qtbot.addWidget(combo)
    assert [combo.itemText(i) for i in range(combo.count())] == ["default", "retrained"]
    assert combo.value() == "default"
    combo.setCurrentIndex(1)
    assert combo.value() == str(tmp_path / "retrained")
    combo.set_value("/elsewhere/run7")  # a typed folder not in the list is kept as typed
    assert combo.value() == "/elsewhere/run7"
    combo.set_value(str(tmp_path / "retrained"))
    assert combo.currentIndex() == 1


def test_form_models_field_is_a_combo_with_default_first(form):
    assert isinstance(form.models, QComboBox)
    assert form.models.itemData(0) == "default"
    assert form.config().analysis.models == "default"


def test_expert_focus_settings_are_folded_until_asked_for(form):
    widgets = form.focus_extra.widgets
    assert not form.advanced.isAncestorOf(widgets["mode"])  # the operator's choice
    for name in ("map_points", "surface", "metric", "sweep_range_um", "refocus_threshold"):
        assert form.advanced.isAncestorOf(widgets[name]), name
    assert form.advanced.isHidden()
    form.advanced_toggle.click()
    assert not form.advanced.isHidden()
    form.advanced_toggle.click()
    widgets["wavelength_nm"].setText("290")  # not a wavelength of the rig: refused
    with pytest.raises(ConfigError):
        form.config()
    assert "must be one of" in form.error_text("focus.wavelength_nm")
    assert not form.advanced.isHidden()  # the error opened the fold: never hidden
