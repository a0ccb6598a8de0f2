"""Hard negatives of the segmentation export: clutter fields hold piled-up red cells, debris and
platelet clumps, and no white-cell pixel in their targets (uvscope.models.simgen)."""

from __future__ import annotations

import csv

import numpy as np
import tifffile

from uvscope.models.patches import red_cell_negatives
from uvscope.models.simdata import load_tile, open_dataset
from uvscope.models.simgen import CLUTTER, SPLIT, clutter_profile, export_donor
from uvscope.sim.donors import get_donor


def test_clutter_profile_piles_red_cells_without_white_cells() -> None:
    base = get_donor("sickle")
    p = clutter_profile("sickle")
    assert p.wbc_per_mm2 == 0.0
    assert p.rbc_overlap_prob > 4 * base.rbc_overlap_prob
    assert p.rbc_coverage > base.rbc_coverage
    assert p.sickle_fraction == base.sickle_fraction  # the base donor's own red cells


def test_clutter_fields_are_background_only_and_crowded(tmp_path) -> None:
    n = export_donor(tmp_path, f"{CLUTTER}healthy@3", 256, 5, 3, np.random.default_rng(0))
    assert n == 3  # no WBC to centre on: only the random fields
    ds = open_dataset(tmp_path)
    assert [t.donor for t in ds.tiles] == [f"{CLUTTER}healthy@3"] * 3
    dark = []
    for tf in ds.tiles:
        assert not tifffile.imread(tf.path / "cell_labels.tif").any()
        assert not tifffile.imread(tf.path / "nucleus_labels.tif").any()
        with open(tf.path / "cells.csv", newline="") as f:
            assert list(csv.DictReader(f)) == []
        t = load_tile(tf, 0.16, 0.32).tile
        assert not t.cell.any() and not t.nucleus.any()
        dark.append(float((tifffile.imread(tf.path / "norm_260.tif") < 0.8).mean()))
        assert len(red_cell_negatives(t.gray, t.cell, 64)) > 0
    # red cells absorb at 260 nm: a crowded field is dark over a large share of its area
    assert min(dark) > 0.2, dark


def test_clutter_donors_are_split_by_slide_seed() -> None:
    names = {s: [d for d in SPLIT[s] if d.startswith(CLUTTER)] for s in SPLIT}
    assert len(names["train"]) == len(names["val"]) == len(names["test"]) == 3
    assert all("@52" in d for d in names["val"]) and all("@101" in d for d in names["test"])
