"""Simulator-labelled classifier crops cut the way the analysis cuts them: from the
segmentation's masks.

The export's crops use the simulator's masks; at run time the classifier sees crops cut with
the shipped segmentation's masks (another extent and edge), and the close pairs (blast /
variant lymphocyte, band / segmented neutrophil) flip on such differences. Each instance the
pipeline finds is labelled with the true cell it covers (intersection over union with the
truth's mask), so a classifier can be trained or checked on the crops it will really see.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tifffile

from uvscope.analysis.pipeline import TilePipeline
from uvscope.analysis.postprocess import instances
from uvscope.models.simdata import TileFiles, concat_crops, row_target
from uvscope.models.train_classify import CropArrays

#: an instance takes a true cell's label when their masks overlap at least this much (IoU)
MIN_IOU = 0.4


def match_labels(inst_cells: np.ndarray, truth_cells: np.ndarray) -> dict[int, tuple[int, float]]:
    """Instance label -> (true cell id it overlaps most, IoU); instances over background only
    are left out. Both images share one shape and pixel grid."""
    out: dict[int, tuple[int, float]] = {}
    inside = inst_cells > 0
    pairs = np.stack([inst_cells[inside], truth_cells[inside]], 1).astype(np.int64)
    pairs = pairs[pairs[:, 1] > 0]
    if not len(pairs):
        return out
    keys, inter = np.unique(pairs, axis=0, return_counts=True)
    ia = dict(zip(*np.unique(inst_cells[inside], return_counts=True), strict=True))
    ta = dict(zip(*np.unique(truth_cells[truth_cells > 0], return_counts=True), strict=True))
    for (i, t), n in zip(keys.tolist(), inter.tolist(), strict=True):
        iou = n / (ia[i] + ta[t] - n)
        if iou > out.get(i, (0, 0.0))[1]:
            out[i] = (t, iou)
    return out


def tile_pipeline_crops(
    pipe: TilePipeline, tf: TileFiles, px_um: float, min_iou: float = MIN_IOU
) -> CropArrays:
    """Crops of every instance the pipeline's networks and rules find on one exported tile,
    labelled from ``cells.csv`` through the truth's masks (``match_labels``); instances that
    match no labelled cell well enough are left out (they are not white cells to learn)."""
    gray = tifffile.imread(tf.path / "norm_260.tif").astype(np.float32)
    truth = tifffile.imread(tf.path / "cell_labels.tif").astype(np.int32)
    (cp, nuc) = pipe.segment([gray], px_um)[0]
    inst = instances(cp, nuc, gray, px_um, pipe.settings.postprocess)
    crops, ids = pipe.crops(gray, inst, px_um)
    targets = _targets(tf.path / "cells.csv")
    best = match_labels(inst.cells, truth)
    keep, labels, dead = [], [], []
    for k, i in enumerate(ids):
        t, iou = best.get(i, (0, 0.0))
        target = targets.get(t)
        if target is None or iou < min_iou:
            continue
        keep.append(k)
        labels.append(target[0])
        dead.append(target[1])
    size = crops.shape[-1] if crops.ndim == 4 else pipe.models.classifier.crop_size
    if not keep:
        return concat_crops([], size)
    return CropArrays(crops[keep], np.array(labels), np.array(dead))


def _targets(path: Path) -> dict[int, tuple[int, int]]:
    """cells.csv: cell id -> (class index or -1 for a dead cell, dead 0/1), for the rows a
    classifier learns from (``simdata.row_target``)."""
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        found = (row_target(r) for r in csv.DictReader(f))
        return {t[0]: (t[1], t[2]) for t in found if t is not None}


def pipeline_crops(
    pipe: TilePipeline, tiles: Iterable[TileFiles], px_um: float, min_iou: float = MIN_IOU
) -> CropArrays:
    """``tile_pipeline_crops`` over many exported tiles, concatenated."""
    size = pipe.models.classifier.crop_size
    return concat_crops([tile_pipeline_crops(pipe, t, px_um, min_iou) for t in tiles], size)
