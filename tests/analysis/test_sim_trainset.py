"""Classifier crops of a simulator export cut with the segmentation's masks, labelled by the
truth cell each instance covers (uvscope.analysis.sim_trainset)."""

from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from uvscope.analysis.models import load_models
from uvscope.analysis.pipeline import TilePipeline
from uvscope.analysis.settings import load_settings
from uvscope.analysis.sim_trainset import match_labels, pipeline_crops
from uvscope.cli import main
from uvscope.models.arch import CLASS_NAMES
from uvscope.models.simdata import open_dataset


def test_match_labels_takes_the_true_cell_each_instance_covers_most():
    truth = np.zeros((40, 40), np.int32)
    truth[0:10, 0:10] = 7  # 100 px
    truth[20:30, 20:30] = 9
    inst = np.zeros_like(truth)
    inst[0:10, 0:5] = 1  # half of cell 7: IoU 0.5
    inst[18:30, 20:32] = 2  # all of 9 plus a rim: IoU 100/144
    inst[35:40, 35:40] = 3  # background only: no match
    inst[5:10, 5:25] = 4  # 25 px of cell 7 in a 100 px instance: IoU 25 / 175
    out = match_labels(inst, truth)
    assert out[1] == (7, pytest.approx(0.5))
    assert out[2] == (9, pytest.approx(100 / 144))
    assert 3 not in out
    assert out[4] == (7, pytest.approx(25 / 175))


@pytest.mark.slow
def test_segmented_crops_carry_the_simulators_kinds(tmp_path):
    data = tmp_path / "sim"
    res = CliRunner().invoke(
        main,
        [
            "simulate", "--out", str(data), "--tiles", "4", "--donors", "left-shift",
            "--size", "384x384", "--wavelengths", "260", "--wbc-fraction", "1",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    ds = open_dataset(data)
    pipe = TilePipeline(load_models("default", None, "default", "cpu"), load_settings(None))
    crops = pipeline_crops(pipe, ds.tiles, ds.pixel_size_um)
    truth: Counter[str] = Counter()
    for t in ds.tiles:
        rows = (t.path / "cells.csv").read_text().splitlines()[1:]
        truth.update(r.split(",")[1] for r in rows if r.split(",")[2] == "0")
    got = Counter(CLASS_NAMES[i] for i, d in zip(crops.label, crops.dead, strict=True) if not d)
    assert sum(got.values()) >= 3  # every field is centred on a white cell
    assert not got - truth  # each crop labelled with a kind the tiles really hold
    assert crops.x.shape[1:] == (3, 64, 64)
    # the composite's channels: nucleus inside cell, both from the segmentation's masks
    nucleus, cell = crops.x[:, 0] > 0, crops.x[:, 2] > 0
    assert (nucleus <= cell).all() and cell.any(axis=(1, 2)).all()
