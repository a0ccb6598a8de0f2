"""The analysis as a sink of the real scan engine on the simulated rig (tiny camera)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from tests.analysis.synth import FakeSegmenter, fake_models
from tests.faults import full_disk_at_tile
from uvscope.acquisition.prepare import run_scan
from uvscope.analysis.session import AnalysisSession, analyse_scan_folder
from uvscope.analysis.settings import AnalysisSettings
from uvscope.config import load_rig, load_scan
from uvscope.drivers.rig import build_rig


class SlowSegmenter(FakeSegmenter):
    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(0.03)
        return super().predict(batch)


def _rig_and_scan():
    rig = load_rig(None)
    rig = rig.replace(camera={**rig.camera.model_dump(), "width_px": 256, "height_px": 192})
    scan = load_scan(None).replace(
        region={"center_mm": (42.5, 32.5), "rows": 2, "columns": 3}, overlap_percent=30.0
    )
    return rig, scan


def test_scan_with_slow_analysis_loses_nothing_and_analyze_reproduces_it(
    tmp_path: Path, settings: AnalysisSettings
) -> None:
    rig_cfg, scan = _rig_and_scan()
    out = tmp_path / "scan"
    models = fake_models()
    models.segmenter = SlowSegmenter()
    s = settings.replace(queue_size=1)
    session = AnalysisSession(out, models, s)
    summary = run_scan(build_rig(rig_cfg), scan, out, sinks=[session])
    assert summary.status == "complete"
    a = out / "analysis"
    doc = json.loads((a / "differential.json").read_text())
    assert doc["tiles"]["analysed"] == summary.tiles_total == 6 and not doc["tiles"]["failed"]
    assert len(list((a / "labels").glob("tile_*.tif"))) == 6
    cells_live = (a / "cells.csv").read_text()

    again = analyse_scan_folder(out, fake_models(), settings)
    assert (a / "cells.csv").read_text() == cells_live
    assert json.loads(json.dumps(again["differential"])) == doc["differential"]
    with open(a / "cells.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == again["cells"]


def test_a_tile_the_writer_failed_on_is_never_analysed(
    tmp_path: Path, settings: AnalysisSettings
) -> None:
    """A full disk while the first tile is written: the analysis sees no tile, commits
    nothing, and `scan --out` may take the folder over (nothing was acquired)."""
    import pytest

    from uvscope.acquisition.engine import ScanEngine
    from uvscope.acquisition.reuse import startup_leftovers
    from uvscope.errors import ScanError

    rig_cfg, scan = _rig_and_scan()
    out = tmp_path / "scan"
    session = AnalysisSession(out, fake_models(), settings)
    engine = ScanEngine(build_rig(rig_cfg), scan, out, sinks=[session])

    engine.storage_hook = full_disk_at_tile(0)
    with pytest.raises(ScanError, match="No space left on device"):
        engine.run()
    assert session.worker is None or not session.worker.results  # nothing analysed
    analysed = [p for d in ("analysis", "analysis.partial") for p in (out / d).rglob("*")]
    assert not [p for p in analysed if p.is_file()]
    assert startup_leftovers(out) is not None  # `scan --out` takes it over
