"""Reviewed labels of analysed scans become a classifier training set, split by slide."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tests.analysis.conftest import PX_UM, SHAPE
from tests.analysis.scanfolder_fixture import write_scan_folder
from tests.analysis.synth import fake_models, grid_specs, make_tile, random_slide
from uvscope.analysis.review import REVIEWED_CSV, REVIEWED_FIELDS
from uvscope.analysis.session import analyse_scan_folder
from uvscope.analysis.settings import AnalysisSettings, InferenceSettings, PostprocessSettings
from uvscope.analysis.trainset import reviewed_crops
from uvscope.cli import main
from uvscope.errors import ModelError

CLASSES = ("neutrophil", "lymphocyte", "monocyte", "dead")


def _reviewed_scan(root: Path, seed: int) -> Path:
    specs = grid_specs(1, 2, SHAPE, PX_UM, 0.3)
    cells = random_slide(
        12,
        (specs[0].x_mm * 1e3 - 15, specs[1].x_mm * 1e3 + 15),
        (specs[0].y_mm * 1e3 - 12, specs[0].y_mm * 1e3 + 12),
        seed=seed,
    )
    write_scan_folder(root, specs, [make_tile(s, cells, SHAPE, PX_UM) for s in specs])
    settings = AnalysisSettings(
        inference=InferenceSettings(low_pct=0.0, patch_overlap_px=16),
        postprocess=PostprocessSettings(min_cell_area_um2=10.0),
    )
    analyse_scan_folder(root, fake_models(), settings)
    with open(root / "analysis" / "cells.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "the synthetic scan should hold cells"
    with open(root / REVIEWED_CSV, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=REVIEWED_FIELDS)
        w.writeheader()
        for i, r in enumerate(rows):
            w.writerow(
                {
                    "cell_id": r["cell_id"],
                    "tile": r["tile"],
                    "x_um": 0,
                    "y_um": 0,
                    "predicted": "neutrophil",
                    "reviewed": CLASSES[i % len(CLASSES)],
                }
            )
    return root


def test_reviewed_cells_are_cut_as_the_analysis_cuts_them(tmp_path: Path) -> None:
    scan = _reviewed_scan(tmp_path / "s1", 3)
    rc = reviewed_crops([scan], 32, 0.32)
    n = len(rc.x)
    assert n > 0 and rc.x.shape[1:] == (3, 32, 32)
    assert rc.group == ["s1"] * n and rc.dead.tolist() == [int(v < 0) for v in rc.label]
    # the composite's blue channel is the cell mask x 0.5: each crop holds its cell
    assert rc.x[:, 2].reshape(n, -1).max(1) == pytest.approx(0.5)
    with pytest.raises(ModelError, match="not a scan folder"):
        reviewed_crops([scan, tmp_path / "nothing"], 32, 0.32)
    (scan / REVIEWED_CSV).unlink()
    with pytest.raises(ModelError, match="no reviewed labels"):
        reviewed_crops([scan], 32, 0.32)


@pytest.mark.slow
def test_train_classify_on_three_reviewed_scans_splits_by_slide(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    scans = [_reviewed_scan(tmp_path / f"slide{i}", 10 + i) for i in range(3)]
    out = tmp_path / "runs"
    args = ["train", "classify", "--out", str(out), "--epochs", "1"]
    for s in scans:
        args += ["--data", str(s)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    card = json.loads((out / "classify.json").read_text())
    split = card["data"]["split"]
    assert sorted(sum(split.values(), [])) == ["slide0", "slide1", "slide2"]
    assert card["dead_head"] == "trained" and card["modality"] == "uv260"
    assert "test_slides" in card["metrics"]
    r = CliRunner().invoke(
        main,
        [
            *args[:-2],
            "--epochs",
            "1",
            "--data",
            str(scans[0]),
            "--data",
            str(scans[1]),
            "--out",
            str(tmp_path / "two"),
        ],
    )
    assert r.exit_code != 0 and "at least 3 scans" in r.output
    assert not (tmp_path / "two").exists()
    assert np.isfinite(card["metrics"]["test_slides"]["accuracy"])
