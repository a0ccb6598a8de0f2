"""Extra fields of the rare cells a network misses: ``export_donor(kinds=...)`` centres every
field on a cell of those kinds (smudge cells, dead cells) and none on the others."""

from __future__ import annotations

import csv

import numpy as np
import tifffile

from uvscope.models.simdata import open_dataset
from uvscope.models.simgen import export_donor


def _rows(path) -> list[dict[str, str]]:
    with open(path / "cells.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_fields_centred_on_the_kinds_asked_only(tmp_path) -> None:
    donor = "acute-leukaemia-like@3"
    n = export_donor(tmp_path, donor, 256, 3, 0, np.random.default_rng(0), kinds={"smudge"})
    assert n == 3
    tiles = open_dataset(tmp_path).tiles
    assert len(tiles) == 3
    for tf in tiles:
        labels = tifffile.imread(tf.path / "cell_labels.tif")
        smudge = [int(r["id"]) for r in _rows(tf.path) if r["kind"] == "smudge"]
        # the cell it is centred on (jittered by a quarter field) lies in the field's truth
        assert any(np.any(labels == i) for i in smudge), _rows(tf.path)
    # without kinds the same slide gives fields of every kind: blasts, lymphocytes, ...
    all_kinds = export_donor(tmp_path / "all", donor, 256, 1, 0, np.random.default_rng(0))
    assert all_kinds > n
