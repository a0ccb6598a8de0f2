"""Sample identity: typed or scanned into the form, kept in scan files, required to start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.gui.test_gui_window import _scan, _window
from uvscope.acquisition.events import RunState
from uvscope.config import SampleConfig, ScanConfig, load_toml
from uvscope.errors import ConfigError
from uvscope.gui.lab_settings import LabSettings, load_lab_settings
from uvscope.gui.scan_form import ScanForm


@pytest.fixture
def form(qtbot):
    f = ScanForm()
    qtbot.addWidget(f)
    f.show()
    return f


def test_sample_table_survives_open_and_save(form, tmp_path: Path):
    path = tmp_path / "in.toml"
    path.write_text(
        '[sample]\nid = "H-2026-0412"\nslide_id = "SL-7731"\noperator = "A. Operator"\n',
        encoding="utf-8",
    )
    form.load(path)
    assert form.sample_id.text() == "H-2026-0412"
    out = tmp_path / "out.toml"
    form.save(out)
    assert load_toml(ScanConfig, out).sample == SampleConfig(
        id="H-2026-0412", slide_id="SL-7731", operator="A. Operator"
    )
    assert '[sample]\nid = "H-2026-0412"' in out.read_text(encoding="utf-8")


def test_retries_have_no_widget_but_survive_a_save(form, tmp_path: Path):
    cfg = ScanConfig().replace(retries={"per_tile": 3, "per_scan": 40})
    form.set_config(cfg)
    assert form.config().retries == cfg.retries


def test_a_barcode_scanner_fills_one_field_and_enter_moves_on(qtbot, form):
    form.sample_id.setFocus()
    qtbot.waitUntil(form.sample_id.hasFocus)
    qtbot.keyClicks(form.sample_id, "H-2026-0412")
    qtbot.keyClick(form.sample_id, Qt.Key.Key_Return)  # the scanner's terminating Enter
    assert form.slide_id.hasFocus()
    qtbot.keyClicks(form.slide_id, "SL-7731")
    qtbot.keyClick(form.slide_id, Qt.Key.Key_Enter)  # keypad Enter too
    assert form.operator.hasFocus()
    assert form.sample() == SampleConfig(id="H-2026-0412", slide_id="SL-7731")


def test_missing_identity_is_shown_beside_each_empty_field(form):
    form.sample_id.setText("H-1")
    with pytest.raises(ConfigError) as err:
        form.check_identity()
    assert "sample.slide_id" in str(err.value) and "sample.id:" not in str(err.value)
    assert "slide id" in form.error_text("sample.slide_id")
    assert "operator" in form.error_text("sample.operator")
    assert form.error_text("sample.id") == ""
    assert form.slide_id.hasFocus()


def test_start_refuses_an_unnamed_sample_then_the_manifest_has_it(qtbot, flat_rig, tmp_path):
    scan = _scan(tmp_path, rows=1, columns=2, analysis=False).replace(sample=SampleConfig())
    win, _ = _window(qtbot, flat_rig, tmp_path, scan=scan)
    win.start_scan()
    assert not win.controller.running
    assert not (tmp_path / "scan").exists()  # nothing was acquired or written
    assert win.banner.isVisible() and "sample" in win.banner.label.text()
    assert "sample id" in win.form.error_text("sample.id")
    # a barcode scanner's Enter in the last field does not start the scan either
    for edit, text in ((win.form.sample_id, "H-7"), (win.form.slide_id, "SL-7")):
        edit.setText(text)
    win.form.operator.setText("B. Tech")
    qtbot.keyClick(win.form.operator, Qt.Key.Key_Return)
    assert not win.controller.running
    win.start_scan()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=20_000)
    manifest = json.loads((tmp_path / "scan" / "manifest.json").read_text())
    sample = manifest["config"]["sample"]
    assert {k: sample[k] for k in ("id", "slide_id", "operator")} == {
        "id": "H-7",
        "slide_id": "SL-7",
        "operator": "B. Tech",
    }
    win.close()


def test_a_lab_may_allow_unnamed_scans(qtbot, flat_rig, tmp_path):
    scan = _scan(tmp_path, rows=1, columns=1, analysis=False).replace(sample=SampleConfig())
    win, _ = _window(qtbot, flat_rig, tmp_path, scan=scan, lab=LabSettings(require_identity=False))
    assert "optional" in win.form.sample_group.title()
    win.start_scan()
    qtbot.waitUntil(lambda: win.scan_view.state == RunState.FINISHED, timeout=20_000)
    win.close()


def test_lab_settings_file_and_its_errors(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "none"))
    monkeypatch.delenv("UVSCOPE_LAB", raising=False)
    assert load_lab_settings().require_identity is True  # no file: identity required
    lab = tmp_path / "lab.toml"
    lab.write_text("require_identity = false\n", encoding="utf-8")
    monkeypatch.setenv("UVSCOPE_LAB", str(lab))
    assert load_lab_settings().require_identity is False
    lab.write_text("require_identiy = false\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="require_identiy: unknown field"):
        load_lab_settings(lab)
