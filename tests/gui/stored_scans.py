"""Finished, analysed scan folders for worklist and review tests, written by the real
analysis session (segmentation, cells, differential, stained tiles, labels) over synthetic
tiles, with the fast stand-in networks of tests/analysis."""

from __future__ import annotations

import json
from pathlib import Path

from tests.analysis.conftest import PX_UM, SHAPE
from tests.analysis.scanfolder_fixture import write_scan_folder
from tests.analysis.synth import fake_models, grid_specs, make_tile, random_slide
from uvscope.analysis.session import AnalysisSession
from uvscope.analysis.settings import AnalysisSettings, InferenceSettings, PostprocessSettings


def analysed_scan(
    root: Path, sample: dict[str, str], created: str, seed: int = 5, n_cells: int = 30
) -> Path:
    specs = grid_specs(2, 2, SHAPE, PX_UM, 0.3)
    xs = [s.x_mm * 1e3 for s in specs]
    ys = [s.y_mm * 1e3 for s in specs]
    cells = random_slide(n_cells, (min(xs) - 20, max(xs) + 20), (min(ys) - 15, max(ys) + 15), seed)
    tiles = [make_tile(s, cells, SHAPE, PX_UM, nms=(260,)) for s in specs]
    write_scan_folder(root, specs, tiles)
    mpath = root / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest["config"]["sample"] = sample
    manifest.update(status="complete", created=created)
    mpath.write_text(json.dumps(manifest))
    settings = AnalysisSettings(
        inference=InferenceSettings(low_pct=0.0, patch_overlap_px=16),
        postprocess=PostprocessSettings(min_cell_area_um2=10.0),
    )
    session = AnalysisSession(root, fake_models(), settings)
    for t in tiles:
        session.put(t)
    session.close()
    return root
