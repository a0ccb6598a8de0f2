"""Results are only replaced by results at least as complete (issue 24): a re-analysis of a
scan with a damaged tile is refused by name, analyses the rest only when asked, and replaces
a fuller analysis only with --replace, logged with both tile counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.analysis.synth import fake_models
from tests.analysis.test_session import _scan
from uvscope.analysis.keep import ResultsKept
from uvscope.analysis.session import analyse_scan_folder
from uvscope.analysis.settings import AnalysisSettings
from uvscope.io.scancheck import DamagedScan
from uvscope.io.scanfolder import ScanFolder


def _doc(root: Path) -> dict:
    return json.loads((root / "analysis" / "differential.json").read_text())


def test_a_damaged_tile_is_refused_then_skipped_by_name_only_with_replace(tmp_path: Path) -> None:
    root, _, _ = _scan(tmp_path)
    settings = AnalysisSettings()
    analyse_scan_folder(root, fake_models(), settings)
    before = (root / "analysis" / "differential.json").read_bytes()
    tile = ScanFolder(root).tile_path(2, 260)
    tile.write_bytes(tile.read_bytes()[:1000])  # the issue's `head -c 1000`

    with pytest.raises(DamagedScan, match="tiles/tile_00002_260.ome.tif"):
        analyse_scan_folder(root, fake_models(), settings)
    with pytest.raises(ResultsKept, match="analysis of 4 tiles; this one would have 3"):
        analyse_scan_folder(root, fake_models(), settings, skip_damaged=True)
    assert (root / "analysis" / "differential.json").read_bytes() == before
    assert not (root / "analysis.partial").exists()

    summary = analyse_scan_folder(root, fake_models(), settings, skip_damaged=True, replace=True)
    tiles = _doc(root)["tiles"]
    assert tiles["analysed"] == 3 and "tiles/tile_00002_260.ome.tif" in tiles["skipped"]["2"]
    assert summary["tiles"]["skipped"] == tiles["skipped"]
    event = [e for e in ScanFolder(root).read_events() if e["kind"] == "analysis-replaced"][-1]
    assert event["previous_tiles"] == 4 and event["tiles"] == 3 and "2" in event["skipped"]


def test_an_unreadable_previous_analysis_may_be_replaced(tmp_path: Path) -> None:
    root, _, _ = _scan(tmp_path)
    analyse_scan_folder(root, fake_models(), AnalysisSettings())
    (root / "analysis" / "differential.json").write_bytes(b"\xff garbage")
    analyse_scan_folder(root, fake_models(), AnalysisSettings())
    assert _doc(root)["tiles"]["analysed"] == 4
    event = [e for e in ScanFolder(root).read_events() if e["kind"] == "analysis-replaced"][-1]
    assert "unreadable" in event["message"] and event["tiles"] == 4


def test_a_reviewed_analysis_is_kept_unless_replace_and_then_its_review_is_archived(
    tmp_path: Path,
) -> None:
    """A reviewer's work is never thrown away by a re-analysis (uvscope analyze)."""
    root, _, _ = _scan(tmp_path)
    analyse_scan_folder(root, fake_models(), AnalysisSettings())
    labels = b"cell_id,tile,x_um,y_um,predicted,reviewed\nt00000c0001,0,1.0,2.0,lymphocyte,blast\n"
    signoff = b'{"operator": "A. Tech"}'
    (root / "analysis" / "reviewed_labels.csv").write_bytes(labels)
    (root / "analysis" / "signoff.json").write_bytes(signoff)
    before = (root / "analysis" / "differential.json").read_bytes()

    with pytest.raises(ResultsKept, match="reviewed_labels.csv, signoff.json"):
        analyse_scan_folder(root, fake_models(), AnalysisSettings())
    assert (root / "analysis" / "differential.json").read_bytes() == before
    assert (root / "analysis" / "reviewed_labels.csv").read_bytes() == labels

    analyse_scan_folder(root, fake_models(), AnalysisSettings(), replace=True)
    (archived,) = (root / "review-archive").iterdir()
    assert (archived / "reviewed_labels.csv").read_bytes() == labels
    assert (archived / "signoff.json").read_bytes() == signoff
    assert not (root / "analysis" / "signoff.json").exists()
    event = [e for e in ScanFolder(root).read_events() if e["kind"] == "review-archived"][-1]
    assert str(archived) in event["message"]
