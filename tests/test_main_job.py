"""The main job at reduced size, against the simulator's ground truth (issue: a 200-WBC scan
with fixed focus on the tilted slide was 26 points off while saying nothing).

A strip wide enough that one focus cannot hold it on the default slide tilt, scanned with the
default scan settings and the shipped models, as `uvscope scan` runs it: every counted tile
must lie within half a depth of field of the true surface (or be flagged and left out), and the
cells found must match the truth. The same strip at one fixed z shows the test can fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from uvscope.acquisition.autofocus import DEPTH_OF_FIELD_UM
from uvscope.acquisition.engine import ScanEngine
from uvscope.analysis.evaluate import evaluate_scan_folder
from uvscope.config import load_rig, load_scan
from uvscope.drivers.rig import build_rig

pytestmark = pytest.mark.slow

#: a 1 x 14 strip at the smear centre: 2.7 mm along x, 4 um of tilt on the default slide
REGION = {"center_mm": [42.5, 32.5], "rows": 1, "columns": 14}


def _scan(out: Path, analysis: bool, **focus: object) -> None:
    scan = load_scan(None)  # the embedded default scan file
    changes: dict[str, object] = {"region": REGION, "save_raw": False}
    changes["analysis"] = {**scan.analysis.model_dump(), "enabled": analysis}
    if focus:
        changes["focus"] = {**scan.focus.model_dump(), **focus}
    scan = scan.replace(**changes)
    rig = build_rig(load_rig(None))
    sinks = []
    if analysis:
        from uvscope.analysis.session import session_for_scan

        sinks.append(session_for_scan(scan, out, stain=False))  # staining changes no count
    try:
        ScanEngine(rig, scan, out, sinks=sinks).run()
    finally:
        rig.close()


def test_fixed_focus_on_this_strip_would_blur_most_tiles(tmp_path):
    """The control: one z for the strip, check off. If this stops failing the slide, the
    test below proves nothing."""
    _scan(tmp_path / "fixed", analysis=False, mode="fixed", refocus_threshold=0.0)
    (tmp_path / "fixed" / "analysis").mkdir()
    (tmp_path / "fixed" / "analysis" / "cells.csv").write_text("cell_id\n")
    audit = evaluate_scan_folder(str(tmp_path / "fixed")).focus
    assert len(audit.counted_blurred) >= audit.tiles // 2
    assert max(audit.defocus_um.values()) > DEPTH_OF_FIELD_UM


def test_default_scan_keeps_focus_and_counts_against_the_truth(tmp_path):
    out = tmp_path / "scan"
    _scan(out, analysis=True)
    ev = evaluate_scan_folder(str(out))
    audit = ev.focus
    assert ev.tiles_acquired == ev.tiles_planned == 14
    assert audit.counted_blurred == []  # every counted tile in focus, or flagged
    assert audit.within >= audit.tiles - len(audit.flagged)
    c = ev.counting
    assert c.n_truth >= 3  # the strip holds white cells to score
    assert c.recall >= 0.75 and c.precision >= 0.75
    assert c.class_accuracy() >= 0.75
