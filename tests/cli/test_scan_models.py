"""`uvscope scan` refuses weights that do not fit the scan before the first tile, as analyze
does (one check: uvscope.analysis.models), and runs them on an explicit, recorded override."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.cli import main
from uvscope.io.scanfolder import ScanFolder

WEIGHTS = Path(__file__).resolve().parents[2] / "uvscope" / "models" / "weights"

RIG = SMALL_RIG.replace("pixel_size_um = 0.5", "pixel_size_um = {px}")

SCAN = (
    small_scan(1, 2)
    + """[analysis]
enabled = {enabled}
models = "{models}"
report = false
device = "cpu"
"""
)


def model_set(root: Path, **classify_card: object) -> Path:
    """A model set folder: the shipped weights with the classifier's card changed (e.g.
    modality="rgb-stained"), as a lab's own training on stained smears writes it."""
    root.mkdir(parents=True)
    for kind in ("segment", "classify", "stain"):
        shutil.copy(WEIGHTS / f"{kind}.safetensors", root / f"{kind}.safetensors")
        card = json.loads((WEIGHTS / f"{kind}.json").read_text())
        if kind == "classify":
            card.update(classify_card)
        (root / f"{kind}.json").write_text(json.dumps(card))
    return root


@pytest.fixture
def files(tmp_path: Path) -> Path:
    if not (WEIGHTS / "classify.safetensors").exists():
        pytest.skip(f"no shipped weights in {WEIGHTS}")
    (tmp_path / "rig.toml").write_text(RIG.format(px=0.5))
    model_set(tmp_path / "stained", modality="rgb-stained", input="rgb-crop")
    return tmp_path


def _scan(files: Path, *extra: str, enabled: str = "false", models: str = "default"):
    (files / "scan.toml").write_text(SCAN.format(enabled=enabled, models=models))
    args = ["scan", "--config", str(files / "scan.toml"), "--rig", str(files / "rig.toml")]
    return CliRunner().invoke(main, [*args, "--out", str(files / "out"), "--quiet", *extra])


def _tiles(out: Path) -> list[int]:
    """The tiles saved in ``out`` (none where no scan folder was even made)."""
    if not (out / "manifest.json").exists():
        return []
    return sorted(ScanFolder.open(out).verified_tiles())


def test_scan_refuses_models_of_another_modality_before_the_first_tile(files: Path):
    r = _scan(files, "--models", str(files / "stained"))
    assert r.exit_code != 0
    text = " ".join(r.output.split())
    assert "rgb-stained" in text and "--allow-model-mismatch" in text, r.output
    assert "Traceback" not in r.output
    out = files / "out"  # nothing was acquired: no manifest, no tile, no analysis
    assert _tiles(out) == [] and not (out / "analysis").exists()
    assert not (out / "manifest.json").exists()


def test_scan_file_models_setting_is_checked_too(files: Path):
    r = _scan(files, enabled="true", models=str(files / "stained"))
    assert r.exit_code != 0 and "rgb-stained" in r.output
    assert _tiles(files / "out") == []


def test_scan_refuses_a_pixel_size_far_from_the_rig(files: Path):
    (files / "rig.toml").write_text(RIG.format(px=0.05))  # 0.32 um/px networks: 6.4x
    r = _scan(files, "--models", "default")
    text = " ".join(r.output.split())
    assert r.exit_code != 0 and "0.05 um/px" in text and "resampling" in text, r.output
    assert _tiles(files / "out") == []


@pytest.mark.slow
def test_override_runs_and_is_recorded_in_manifest_and_provenance(files: Path):
    r = _scan(files, "--models", str(files / "stained"), "--allow-model-mismatch")
    assert r.exit_code == 0, r.output
    assert "model mismatch overridden" in " ".join(r.output.split())
    out = files / "out"
    assert len(_tiles(out)) > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["analysis"]["allow_model_mismatch"] is True
    assert manifest["config"]["analysis"]["models"] == str(files / "stained")
    doc = json.loads((out / "analysis" / "differential.json").read_text())
    prov = json.dumps(doc)
    assert "mismatch_overridden" in prov and "rgb-stained" in prov


def test_models_option_conflicts_are_usage_errors(files: Path):
    r = _scan(files, "--models", "default", "--no-analysis")
    assert r.exit_code == 2 and "--no-analysis" in r.output
    (files / "out").mkdir()
    r = CliRunner().invoke(main, ["scan", "--resume", str(files / "out"), "--models", "x"])
    assert r.exit_code == 2 and "--models" in r.output
