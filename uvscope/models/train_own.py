"""Training and evaluation on a lab's own images with masks (see uvscope.models.owndata).

Splits are k-fold by group (groups.csv: slide or donor) or stratified by class; fold ``f`` is
the test set, fold ``f + 1`` validation. Segmentation is scored at the data's own resolution:
the network runs at its pixel size, its probabilities are resampled back onto the image and
compared with the lab's masks, beside an Otsu-threshold baseline on the same images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage.filters import threshold_multiotsu, threshold_otsu
from skimage.transform import resize

from uvscope.errors import ModelError
from uvscope.models.arch import CLASS_NAMES, ClassifyConfig, SegConfig
from uvscope.models.colournorm import DEFAULT as DEFAULT_COLOUR_NORM
from uvscope.models.colournorm import normalise as colour_normalise
from uvscope.models.loop import History, Log
from uvscope.models.metrics import classification_report, dice
from uvscope.models.owndata import (
    OwnDataset,
    OwnItem,
    OwnSample,
    composite_crops,
    item_masks,
    load_samples,
    read_any,
    rgb_crops,
    to_gray,
)
from uvscope.models.patches import TileArrays
from uvscope.models.train_classify import CropArrays, train_classifier
from uvscope.models.train_segment import train_segmenter


def sample_tile(s: OwnSample, min_side: int) -> TileArrays:
    """A training tile; images smaller than the patch are mirrored out to it (image and masks
    together, so the labels stay true)."""
    h, w = s.gray.shape
    ph, pw = max(0, min_side - h), max(0, min_side - w)
    pad = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))

    def p(a: np.ndarray) -> np.ndarray:
        return np.pad(a, pad, mode="symmetric") if ph or pw else a

    cell = p(s.cell)
    ids = [i for i in np.unique(s.cell_labels) if i > 0]
    from scipy import ndimage

    lab = p(s.cell_labels)
    centers = np.array(ndimage.center_of_mass(lab > 0, lab, ids)) if ids else np.zeros((0, 2))
    return TileArrays(p(s.gray), cell, p(s.nucleus), None, centers, s.group)


def train_own_segment(
    ds: OwnDataset,
    split: dict[str, list[str]],
    cfg: SegConfig,
    epochs: int,
    work: Path,
    device: str,
    seed: int,
    log: Log,
    **kw: Any,
) -> tuple[torch.nn.Module, History, dict[str, Any]]:
    px = cfg.pixel_size_um
    tr = [sample_tile(s, cfg.patch_size) for s in load_samples(ds, split["train"], px)]
    va = [sample_tile(s, 2**cfg.depth) for s in load_samples(ds, split["val"], px)]
    log(f"{len(tr)} training and {len(va)} validation images at {px} um/px")
    net, hist = train_segmenter(tr, va, cfg, epochs, work, device, seed, log=log, **kw)
    metrics = segment_scores(net, ds, split["test"], cfg)
    return net, hist, {"test_fold": metrics}


@torch.no_grad()
def predict_native(
    net: torch.nn.Module, ds: OwnDataset, names: list[str], px: float
) -> list[np.ndarray]:
    """(2,H,W) probabilities of each image at the data's own resolution."""
    from uvscope.models.predict import pad_to_multiple

    net.eval()
    depth = int(net.unet.depth)  # type: ignore[union-attr, arg-type]
    out = []
    for s, it in zip(load_samples(ds, names, px), _items(ds, names), strict=True):
        dev = next(net.parameters()).device
        x = torch.from_numpy(np.ascontiguousarray(s.gray, np.float32))[None, None].to(dev)
        x, h, w = pad_to_multiple(x, 2**depth)
        prob = torch.sigmoid(net(x).float())[0, :, :h, :w].cpu().numpy()
        out.append(np.stack([resize(p, it.shape, order=1) for p in prob]))
    return out


def _items(ds: OwnDataset, names: list[str] | None) -> list[OwnItem]:
    keep = set(names) if names is not None else None
    return [it for it in ds.items if keep is None or it.name in keep]


def otsu_masks(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The baseline: cells darker than Otsu's threshold, nuclei the darkest of three Otsu
    classes (stained and 260 nm images alike show nuclei darkest)."""
    cell = gray < threshold_otsu(gray)
    try:
        t = threshold_multiotsu(gray, classes=3)
        nuc = gray < t[0]
    except ValueError:
        nuc = np.zeros_like(cell)
    return cell, nuc


def segment_scores(
    net: torch.nn.Module, ds: OwnDataset, names: list[str], cfg: Any
) -> dict[str, float]:
    """Mean Dice per image at the data's resolution, and Otsu's on the same images."""
    probs = predict_native(net, ds, names, cfg.pixel_size_um)
    cd, nd, oc, on = [], [], [], []
    for p, it in zip(probs, _items(ds, names), strict=True):
        labels, nuc = item_masks(ds, it)
        cell = labels > 0
        cd.append(dice(p[0] >= 0.5, cell))
        nd.append(dice(p[1] >= 0.5, nuc))
        c0, n0 = otsu_masks(to_gray(read_any(it.image)))
        oc.append(dice(c0, cell))
        on.append(dice(n0, nuc))
    return {
        "cell_dice": float(np.mean(cd)),
        "nucleus_dice": float(np.mean(nd)),
        "otsu_cell_dice": float(np.mean(oc)),
        "otsu_nucleus_dice": float(np.mean(on)),
        "n_images": float(len(cd)),
    }


def own_crops(
    ds: OwnDataset,
    names: list[str] | None,
    cfg: ClassifyConfig,
    inp: str,
    normalise: str | None = DEFAULT_COLOUR_NORM,
) -> CropArrays:
    """Classifier inputs of the named images: composite crops, or whole colour images
    (``normalise``: a uvscope.models.colournorm method, None for none)."""
    return own_crops_named(ds, names, cfg, inp, normalise)[0]


def own_crops_named(
    ds: OwnDataset,
    names: list[str] | None,
    cfg: ClassifyConfig,
    inp: str,
    normalise: str | None = DEFAULT_COLOUR_NORM,
) -> tuple[CropArrays, dict[str, str]]:
    """``own_crops`` and the named images it could not use, each with why (no class in
    classes.csv, no cell in its mask at the model's pixel size)."""
    if inp == "rgb-crop":
        x, lab, dead, got = rgb_crops(ds, names, cfg.crop_size)
        if normalise:
            x = colour_normalise(x, normalise)
    else:
        x, lab, dead, got = composite_crops(ds, names, cfg.pixel_size_um, cfg.crop_size)
    return CropArrays(x.astype(np.float32), lab, dead), skipped_images(ds, names, set(got))


def skipped_images(ds: OwnDataset, names: list[str] | None, cropped: set[str]) -> dict[str, str]:
    """Images of ``names`` (None: all) that gave no crop, with the reason."""
    labelled = {n for n, _ in ds.cell_labels}
    out: dict[str, str] = {}
    for it in _items(ds, names):
        if it.name in cropped:
            continue
        if it.label is None and it.name not in labelled:
            out[it.name] = "no row in classes.csv"
        else:
            out[it.name] = "no labelled cell in the mask at the model's pixel size"
    return out


def skipped_text(skipped: dict[str, str], of: int, what: str) -> str:
    """One warning line naming the images left out (the first few), by reason."""
    by_reason: dict[str, list[str]] = {}
    for name, why in skipped.items():
        by_reason.setdefault(why, []).append(name)
    parts = [
        f"{len(v)} for {why} ({', '.join(v[:5])}{', ...' if len(v) > 5 else ''})"
        for why, v in by_reason.items()
    ]
    return f"{len(skipped)} of {of} images left out of {what}: " + "; ".join(parts)


def train_own_classify(
    ds: OwnDataset,
    split: dict[str, list[str]],
    cfg: ClassifyConfig,
    inp: str,
    epochs: int,
    work: Path,
    device: str,
    seed: int,
    log: Log,
    colour_norm: str | None = DEFAULT_COLOUR_NORM,
    **kw: Any,
) -> tuple[torch.nn.Module, History, dict[str, Any]]:
    (tr, tr_skip), (va, va_skip) = (
        own_crops_named(ds, split[k], cfg, inp, colour_norm) for k in ("train", "val")
    )
    n_named = len(split["train"]) + len(split["val"])
    if tr_skip or va_skip:
        log("warning: " + skipped_text({**tr_skip, **va_skip}, n_named, "classifier training"))
    log(f"{len(tr.x)} training and {len(va.x)} validation cells ({inp} crops)")
    net, hist, extras = train_classifier(
        tr,
        va,
        cfg,
        epochs,
        work,
        device,
        seed,
        log=log,
        augment="composite" if inp == "composite" else "rgb",
        **kw,
    )
    return net, hist, extras


def class_scores(p_class: np.ndarray, data: CropArrays) -> dict[str, Any]:
    """Five-part report on healthy labelled cells, beside the majority-class baseline."""
    keep = (data.dead == 0) & (data.label >= 0)
    y = data.label[keep]
    if not len(y):
        raise ModelError("no labelled healthy cells to score")
    rep = classification_report(y, p_class[keep].argmax(1), CLASS_NAMES)
    major = int(np.bincount(y, minlength=len(CLASS_NAMES)).argmax())
    base = classification_report(y, np.full_like(y, major), CLASS_NAMES)
    return {
        "accuracy": rep.accuracy,
        "balanced_accuracy": rep.macro["balanced_accuracy"],
        "macro_f1": rep.macro["f1"],
        "five_part": rep.to_dict(),
        "majority_class_baseline": {
            "class": CLASS_NAMES[major],
            "accuracy": base.accuracy,
            "balanced_accuracy": base.macro["balanced_accuracy"],
            "macro_f1": base.macro["f1"],
        },
    }


def resolve_split(card: dict[str, Any], ds: OwnDataset, split: str) -> list[str] | None:
    """Image names to score: the card's held-out fold when the weights were trained on this
    very folder (``split`` test/val/train), else every image (``None``)."""
    data = card.get("data") or {}
    same = str(Path(str(data.get("path", ""))).resolve()) == str(ds.root.resolve())
    if split == "all" or not same or "split" not in data:
        return None
    names = data["split"].get(split)
    return list(names) if names is not None else None
