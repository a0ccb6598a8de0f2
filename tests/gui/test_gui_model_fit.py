"""The GUI's scan start refuses weights that do not fit the scan, beside the Models field,
with the same check and override the CLI has (uvscope.analysis.session.session_for_scan)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox

from tests.cli.test_scan_models import WEIGHTS, model_set
from tests.gui.identity import IDENTIFIED
from uvscope.acquisition.events import RunState
from uvscope.config import RegionConfig, ScanConfig
from uvscope.gui.analysis_adapter import session_factory
from uvscope.gui.main_window import MainWindow


@pytest.fixture
def stained(tmp_path):
    if not (WEIGHTS / "classify.safetensors").exists():
        pytest.skip(f"no shipped weights in {WEIGHTS}")
    return model_set(tmp_path / "stained", modality="rgb-stained", input="rgb-crop")


def _scan(tmp_path, models: str) -> ScanConfig:
    return ScanConfig(
        name="gui model fit",
        region=RegionConfig(center_mm=(40.0, 30.0), rows=1, columns=2),
        output_dir=tmp_path / "scan",
        sample=IDENTIFIED,
    ).replace(
        analysis={"enabled": True, "models": models, "report": False, "device": "cpu"},
        background={"frames": 2, "dark_frames": 1},
    )


def test_scan_start_shows_the_mismatch_beside_models_and_acquires_nothing(
    qtbot, flat_rig, tmp_path, stained
):
    win = MainWindow(
        flat_rig,
        analysis_factory=session_factory,
        ask=lambda *a: True,
        live_on_connect=False,
        scan=_scan(tmp_path, str(stained)),
    )
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: set(win.panel.state.values()) == {"connected"}, timeout=5000)
    win.scan_view.start_button.click()
    label = win.form.errors["analysis.models"]
    qtbot.waitUntil(label.isVisible, timeout=30_000)
    text = label.text()
    assert "rgb-stained" in text and "allow_model_mismatch" in text
    assert str(stained) in text  # the folder named as it is, not reworded
    assert not win.controller.running and win.controller.engine is None
    assert win.scan_view.state != RunState.RUNNING
    assert not (tmp_path / "scan" / "manifest.json").exists()  # nothing acquired
    qtbot.waitUntil(win.panel.goto_button.isEnabled, timeout=5000)  # devices handed back
    # the override is an explicit, visible field of the analysis section
    box = win.form.analysis_extra.widgets["allow_model_mismatch"]
    assert isinstance(box, QCheckBox) and not box.isChecked()
    box.setChecked(True)
    cfg = win.form.config()
    assert cfg.analysis.allow_model_mismatch is True
    assert not label.isVisible()  # a valid form clears the old refusal


def test_override_loads_the_models_and_records_the_mismatch(flat_rig, tmp_path, stained):
    from uvscope.acquisition.plan import fov_mm, plan_tiles
    from uvscope.errors import ModelError

    cfg = _scan(tmp_path, str(stained))
    cam = flat_rig.camera
    plan = plan_tiles(
        cfg, fov_mm(cam.width_px, cam.height_px, flat_rig.pixel_size_um), flat_rig.config.stage
    )
    with pytest.raises(ModelError, match="rgb-stained"):
        session_factory(cfg, flat_rig, tmp_path / "scan", plan)
    allowed = cfg.replace(analysis={**cfg.analysis.model_dump(), "allow_model_mismatch": True})
    sink = session_factory(allowed, flat_rig, tmp_path / "scan", plan)
    try:
        assert sink.models.provenance["allow_mismatch"] is True
        assert "rgb-stained" in sink.models.provenance["mismatch_overridden"][0]
    finally:
        sink.abort()  # its worker thread must not outlive the test (interpreter-exit crash)
