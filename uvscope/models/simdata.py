"""Datasets exported by `uvscope simulate` (or laid out the same way from real scans).

Layout: DIR/dataset.json and DIR/<donor>/<tile_id>/{norm_260.tif, cell_labels.tif,
nucleus_labels.tif, stained_rgb.tif, cells.csv}. Splits are by donor, never by tile, so test
cells come from people the model has not seen (as the paper tested on unseen individuals).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from scipy import ndimage

from uvscope.errors import ModelError
from uvscope.imaging import block_mean
from uvscope.models.arch import CLASS_NAMES
from uvscope.models.patches import TileArrays
from uvscope.models.preprocess import bin2x2, composite_crop, contrast_stretch
from uvscope.models.train_classify import CropArrays

DEFAULT_PIXEL_SIZE_UM = 0.16


@dataclass
class TileFiles:
    donor: str
    path: Path


@dataclass
class Dataset:
    root: Path
    pixel_size_um: float
    tiles: list[TileFiles]
    meta: dict[str, Any]

    @property
    def donors(self) -> list[str]:
        return sorted({t.donor for t in self.tiles})


def _find_key(d: Any, needle: str) -> Any:
    if isinstance(d, dict):
        for k, v in d.items():
            if needle in str(k):
                if not isinstance(v, (dict, list)):
                    return v
            found = _find_key(v, needle)
            if found is not None:
                return found
    return None


def open_dataset(root: str | Path) -> Dataset:
    """Index a dataset folder (reads only dataset.json and the file tree)."""
    root = Path(root)
    meta: dict[str, Any] = {}
    mf = root / "dataset.json"
    if mf.exists():
        try:
            meta = json.loads(mf.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as err:  # JSON and UTF-8 errors
            raise ModelError(f"{mf} is damaged ({err}); write the dataset again") from None
        if not isinstance(meta, dict):
            raise ModelError(f"{mf} is damaged: not a JSON object; write the dataset again")
    tiles = [
        TileFiles(p.parent.parent.name, p.parent) for p in sorted(root.glob("*/*/norm_260.tif"))
    ]
    if not tiles:
        raise ModelError(
            f"no tiles found under {root}/<donor>/<tile>/norm_260.tif; create a dataset with "
            f"`uvscope simulate --out {root}` or arrange your own data that way"
        )
    px = _find_key(meta, "pixel_size_um")
    return Dataset(root, float(px) if px else DEFAULT_PIXEL_SIZE_UM, tiles, meta)


def split_donors(
    ds: Dataset, val_fraction: float = 0.15, test_fraction: float = 0.2
) -> dict[str, list[str]]:
    """Donor split: dataset.json's "split" if it names one, else a fixed one over sorted names."""
    given = ds.meta.get("split") if isinstance(ds.meta.get("split"), dict) else None
    if given and all(k in given for k in ("train", "val", "test")):
        return {k: list(given[k]) for k in ("train", "val", "test")}
    donors = ds.donors
    if len(donors) < 3:
        raise ModelError(
            f"{ds.root} has {len(donors)} donors; a donor split needs at least 3 (train, val, test)"
        )
    n_test = max(1, math.ceil(test_fraction * len(donors)))
    n_val = max(1, math.ceil(val_fraction * len(donors)))
    rng = np.random.default_rng(12345)
    order = [donors[i] for i in rng.permutation(len(donors))]
    return {
        "test": order[:n_test],
        "val": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }


def _resample(img: np.ndarray, factor: int, labels: bool = False) -> np.ndarray:
    for _ in range(int(round(math.log2(factor)))):
        img = (
            img[::2, ::2]
            if labels
            else (
                np.moveaxis(bin2x2(np.moveaxis(img, -1, 0)), 0, -1)
                if img.ndim == 3
                else bin2x2(img)
            )
        )
    return img


def coverage(mask: np.ndarray, factor: int) -> np.ndarray:
    """Fraction of each ``factor`` x ``factor`` block that ``mask`` covers (float32, 0..1).

    The segmentation targets at the model's pixel size. They sit on the same pixel centres as
    the block-averaged image; taking every ``factor``-th label instead would shift the masks by
    (factor - 1) / 2 camera pixels, a shift the flipped training patches could never learn, and
    would throw away where a boundary falls inside a pixel.
    """
    return block_mean(np.asarray(mask, dtype=np.float32), factor)


def _factor(data_px: float, model_px: float) -> int:
    f = model_px / data_px
    k = round(f)
    if k < 1 or abs(f - k) > 1e-3 or k & (k - 1):
        raise ModelError(
            f"data at {data_px} um/px cannot be binned to the model's {model_px} um/px "
            f"(needs a power-of-two ratio); choose a model size with a matching pixel size"
        )
    return k


@dataclass
class LoadedTile:
    tile: TileArrays
    cell_labels: np.ndarray
    nucleus_labels: np.ndarray
    cells: list[dict[str, str]]


def load_tile(tf: TileFiles, data_px: float, model_px: float, with_rgb: bool = False) -> LoadedTile:
    """Read, bin to the model's pixel size and contrast-stretch one tile."""
    k = _factor(data_px, model_px)
    gray = _resample(tifffile.imread(tf.path / "norm_260.tif").astype(np.float32), k)
    cl_full = tifffile.imread(tf.path / "cell_labels.tif").astype(np.int32)
    nl_full = tifffile.imread(tf.path / "nucleus_labels.tif").astype(np.int32)
    # label images for the classifier's crops are subsampled as the analysis pipeline does
    cl = _resample(cl_full, k, labels=True)
    nl = _resample(nl_full, k, labels=True)
    rgb = None
    if with_rgb:
        raw = tifffile.imread(tf.path / "stained_rgb.tif")
        rgb = raw.astype(np.float32) / (
            255.0 if raw.dtype == np.uint8 else (65535.0 if raw.dtype == np.uint16 else 1.0)
        )
        if rgb.shape[0] == 3 and rgb.shape[-1] != 3:
            rgb = np.moveaxis(rgb, 0, -1)
        rgb = _resample(rgb, k)
    cells: list[dict[str, str]] = []
    cf = tf.path / "cells.csv"
    if cf.exists():
        with open(cf, newline="") as f:
            cells = list(csv.DictReader(f))
    ids = [i for i in np.unique(cl) if i > 0]
    centers = np.array(ndimage.center_of_mass(cl > 0, cl, ids)) if ids else np.zeros((0, 2))
    tile = TileArrays(
        contrast_stretch(gray),
        coverage(cl_full > 0, k),
        coverage(nl_full > 0, k),
        rgb,
        centers,
        tf.donor,
    )
    return LoadedTile(tile, cl, nl, cells)


def _truthy(v: str | None) -> bool:
    return str(v).strip().lower() in {"1", "true", "yes", "dead"}


def row_target(row: dict[str, str]) -> tuple[int, int, int] | None:
    """A ``cells.csv`` row -> (cell id, class index or -1 for a dead cell, dead 0/1); None for
    a row no classifier learns from (a kind outside the classes that is not dead)."""
    cid = int(row.get("id", row.get("cell_id", 0)) or 0)
    kind = str(row.get("kind", "")).strip().lower()
    is_dead = _truthy(row.get("dead"))
    if kind not in CLASS_NAMES and not is_dead:
        return None
    label = CLASS_NAMES.index(kind) if kind in CLASS_NAMES and not is_dead else -1
    return cid, label, int(is_dead)


def tile_crops(lt: LoadedTile, crop_size: int) -> CropArrays:
    """Composite crops of every labelled cell whose mask does not touch the tile border."""
    xs, labels, dead = [], [], []
    cl, nl = lt.cell_labels, lt.nucleus_labels
    h, w = cl.shape
    for row in lt.cells:
        target = row_target(row)
        if target is None:
            continue
        cid, label, is_dead = target
        m = cl == cid
        if cid <= 0 or not m.any():
            continue
        rr, cc = np.nonzero(m)
        if rr.min() == 0 or cc.min() == 0 or rr.max() == h - 1 or cc.max() == w - 1:
            continue
        xs.append(composite_crop(lt.tile.gray, m, m & (nl > 0), (rr.mean(), cc.mean()), crop_size))
        labels.append(label)
        dead.append(is_dead)
    if not xs:
        return concat_crops([], crop_size)
    return CropArrays(np.stack(xs), np.array(labels), np.array(dead))


def concat_crops(parts: list[CropArrays], crop_size: int) -> CropArrays:
    parts = [p for p in parts if len(p.x)]
    if not parts:
        return CropArrays(
            np.zeros((0, 3, crop_size, crop_size), np.float32), np.zeros(0, int), np.zeros(0, int)
        )
    return CropArrays(
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.label for p in parts]),
        np.concatenate([p.dead for p in parts]),
    )


def load_split(
    ds: Dataset,
    donors: list[str],
    model_px: float,
    with_rgb: bool = False,
    max_tiles: int | None = None,
) -> list[LoadedTile]:
    tiles = [t for t in ds.tiles if t.donor in set(donors)]
    if max_tiles is not None:
        tiles = tiles[:max_tiles]
    return [load_tile(t, ds.pixel_size_um, model_px, with_rgb) for t in tiles]
