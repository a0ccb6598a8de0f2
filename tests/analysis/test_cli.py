"""`uvscope analyze` and `uvscope report` through the command group."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.analysis.conftest import PX_UM, SHAPE
from tests.analysis.scanfolder_fixture import write_scan_folder
from tests.analysis.synth import fake_models, grid_specs, make_tile, random_slide
from uvscope.cli import main


@pytest.fixture
def scan_dir(tmp_path: Path) -> Path:
    specs = grid_specs(1, 2, SHAPE, PX_UM, 0.3)
    cells = random_slide(
        10,
        (specs[0].x_mm * 1e3 - 15, specs[1].x_mm * 1e3 + 15),
        (specs[0].y_mm * 1e3 - 12, specs[0].y_mm * 1e3 + 12),
        seed=8,
    )
    tiles = [make_tile(s, cells, SHAPE, PX_UM) for s in specs]
    write_scan_folder(tmp_path / "scan", specs, tiles)
    return tmp_path / "scan"


def test_analyze_with_thresholds_file_then_report(
    scan_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvscope.analysis.models as models_mod

    calls = []

    def fake_load(seg, stn, cls, device="auto", **kw):
        calls.append((seg, stn, cls, device))
        m = fake_models()
        if stn is None:
            m.stainer = None
        return m

    monkeypatch.setattr(models_mod, "load_models", fake_load)
    cfg = tmp_path / "thresholds.toml"
    cfg.write_text("[inference]\nlow_pct = 0.0\n[postprocess]\nmin_cell_area_um2 = 25.0\n")
    r = CliRunner().invoke(
        main, ["analyze", str(scan_dir), "--config", str(cfg), "--stainer", "none"]
    )
    assert r.exit_code == 0, r.output
    assert calls == [("default", None, "default", "auto")]
    assert "healthy WBCs" in r.output and "report:" in r.output
    assert (scan_dir / "analysis" / "cells.csv").exists()
    assert not (scan_dir / "analysis" / "mosaic_stained.ome.tif").exists()  # staining skipped

    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", str(scan_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_bad_thresholds_and_unanalysed_scans_are_clear_errors(
    scan_dir: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[postprocess]\nmin_cel_area_um2 = 25.0\n")
    r = CliRunner().invoke(main, ["analyze", str(scan_dir), "--config", str(cfg)])
    assert r.exit_code == 2 and "min_cel_area_um2" in r.output
    r = CliRunner().invoke(main, ["report", str(scan_dir)])
    assert r.exit_code == 2 and "uvscope analyze" in r.output
