"""Train and evaluate end to end: data folder in, checked weights + model card out.

The CLI (uvscope.cli.train) is a thin layer over ``run_training`` and ``run_evaluation``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uvscope.errors import ModelError
from uvscope.models.arch import CLASS_NAMES, ClassifyConfig, SegConfig, StainConfig, preset
from uvscope.models.colournorm import DEFAULT as DEFAULT_COLOUR_NORM
from uvscope.models.colournorm import card_method
from uvscope.models.colournorm import normalise as colour_normalise
from uvscope.models.loop import Log
from uvscope.models.metrics import msssim_rgb, stratified_kfold
from uvscope.models.owndata import is_own_data
from uvscope.models.patches import TileArrays, grid_patches
from uvscope.models.predict import (
    CellClassifier,
    load_classifier,
    load_segmenter,
    load_stainer,
    resolve_device,
)
from uvscope.models.registry import machine_description, read_card, resolve, save_model
from uvscope.models.simdata import (
    Dataset,
    concat_crops,
    load_split,
    open_dataset,
    split_donors,
    tile_crops,
)
from uvscope.models.stain import fit_lightness_curve
from uvscope.models.train_classify import CropArrays, evaluate_arrays, train_classifier
from uvscope.models.train_segment import (
    dice_scores,
    segment_tiles,
    tile_targets,
    train_segmenter,
)
from uvscope.models.train_stain import choose_offsets, train_stainer
from uvscope.models.userdata import load_crop_folder


def is_crop_folder(path: Path) -> bool:
    """An ImageFolder of crops (class sub-folders of images) rather than a tile dataset."""
    return not (path / "dataset.json").exists() and not any(path.glob("*/*/norm_260.tif"))


def seg_metrics(pred_prob: list[np.ndarray], y: list[np.ndarray]) -> dict[str, float]:
    """Dice per whole tile, averaged over tiles with cells (>= 1 % of the pixels; the paper's
    test images contain WBCs) and over all tiles. Each item is (2,H,W): cell, nucleus."""
    keep = [i for i, t in enumerate(y) if float(np.mean(t[0] >= 0.5)) >= 0.01]
    out = {f"{k}_all_tiles": v for k, v in dice_scores(pred_prob, y).items()}
    out.update(dice_scores([pred_prob[i] for i in keep], [y[i] for i in keep]))
    out["n_tiles"] = float(len(keep))
    return out


def _crop_arrays(ds: Dataset, donors: list[str], cfg: ClassifyConfig) -> CropArrays:
    return concat_crops(
        [tile_crops(t, cfg.crop_size) for t in load_split(ds, donors, cfg.pixel_size_um)],
        cfg.crop_size,
    )


def _tiles(ds: Dataset, donors: list[str], px: float, rgb: bool = False) -> list[TileArrays]:
    return [t.tile for t in load_split(ds, donors, px, with_rgb=rgb)]


@dataclasses.dataclass(frozen=True)
class OwnOptions:
    """How to read a lab's own data: pixel size and modality (else from dataset.toml), the
    k-fold split and fold, the classifier's input, and fine-tuning (default: shipped weights)."""

    pixel_size_um: float | None = None
    modality: str | None = None
    folds: int = 5
    fold: int = 0
    classifier_input: str | None = None
    init: str | None = "default"
    #: colour crops' normalisation (uvscope.models.colournorm method); None: its default
    colour_norm: str | None = None


def _colour_norm(opt: OwnOptions, inp: str) -> str | None:
    """The colour normalisation of a classifier's crops: colour crops only."""
    if inp != "rgb-crop":
        if opt.colour_norm is not None:
            raise ModelError(
                f"--colour-normalisation applies to colour crops (rgb-crop input), not {inp!r}"
            )
        return None
    return opt.colour_norm or DEFAULT_COLOUR_NORM


def _config(kind: str, size: str, overrides: dict[str, Any] | None, backbone: str | None) -> Any:
    cfg: Any = preset(kind, size)
    if overrides:
        names = {f.name for f in dataclasses.fields(cfg)}
        bad = sorted(set(overrides) - names)
        if bad:
            raise ModelError(
                f"unknown {kind} architecture fields {bad}; choose from {sorted(names)}"
            )
        cfg = dataclasses.replace(cfg, **overrides)
    if backbone is not None:
        if kind != "classify":
            raise ModelError("--backbone applies to classify only")
        cfg = dataclasses.replace(cfg, backbone=backbone)
    return cfg


def _stage(out: Path, kind: str, resume: bool) -> Path:
    """A hidden folder beside ``out`` where a run writes; published into ``out`` only when it
    succeeds, so a failed run leaves nothing in --out (and keeps its checkpoint for --resume)."""
    stage = out.parent / f".{out.name}.{kind}.partial"
    if not resume and stage.exists():
        shutil.rmtree(stage)
    done = out / f"{kind}_work"
    if resume and not (stage / "work").exists() and done.exists():  # extend a finished run
        shutil.copytree(done, stage / "work")
    stage.mkdir(parents=True, exist_ok=True)
    return stage


def _publish(stage: Path, out: Path, kind: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in (f"{kind}.safetensors", f"{kind}.json"):
        os.replace(stage / name, out / name)
    work = out / f"{kind}_work"
    if work.exists():
        shutil.rmtree(work)
    if (stage / "work").exists():
        os.replace(stage / "work", work)
    shutil.rmtree(stage, ignore_errors=True)


def _init_path(init: str | Path | None, cfg: Any, kind: str) -> tuple[Path | None, dict[str, Any]]:
    """The weights to fine-tune from and the card's record of them; the shipped default is
    skipped (with a note) where its architecture differs from the one asked for."""
    if init is None or str(init) == "none":
        return None, {}
    path = resolve(init, kind)
    init_card = read_card(path)
    if str(init) == "default":
        from uvscope.models.arch import config_from_dict, same_network

        if not same_network(config_from_dict(kind, init_card.get("architecture", {})), cfg):
            return None, {"init_skipped": "the shipped weights have another architecture"}
    rec = {
        "path": str(path),
        "sha256": init_card.get("sha256"),
        "command": init_card.get("command"),
        "training_seconds": init_card.get("training_seconds", 0.0),
    }
    if init_card.get("init"):  # the start weights were a fine-tune: keep the lineage
        rec["init"] = init_card["init"]
    return path, {"init": rec}


def _crop_input(modality: str, given: str | None) -> str:
    """The classifier input of a crop folder or own images: composite crops for deep-UV
    (the analysis's input), whole colour crops otherwise, unless given."""
    inp = given or ("composite" if modality == "uv260" else "rgb-crop")
    if inp not in ("composite", "rgb-crop"):
        raise ModelError(f"classifier input {inp!r}: use 'composite' or 'rgb-crop'")
    return inp


def run_training(
    kind: str,
    data: Path,
    out: Path,
    size: str = "small",
    epochs: int = 10,
    device: str = "auto",
    seed: int = 0,
    resume: bool = False,
    backbone: str | None = None,
    log: Log = print,
    steps_per_epoch: int | None = None,
    overrides: dict[str, Any] | None = None,
    init: str | Path | None = None,
    lr: float | None = None,
    nucleus_weight: float = 1.0,
    own: OwnOptions | None = None,
    scan_crops: Callable[[int, float], Any] | None = None,
    sim_crops: Callable[[list[Any], float], CropArrays] | None = None,
    class_weights: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Train one model kind; writes out/<kind>.safetensors + out/<kind>.json, returns the card.

    The data are read and checked before anything is written; the run works in a hidden
    folder beside ``out`` and moves its files into ``out`` only at the end.
    ``overrides`` replaces fields of the size preset (e.g. {"base_width": 16, "predict_l": True}).
    ``init`` fine-tunes from a weights file with the same architecture; its training time is
    added to the card's, so the card tells the full cost of the weights. ``own``: options for
    a lab's own images with masks (images/ + masks/), where fine-tuning the shipped weights is
    the default. ``scan_crops(crop_size, pixel_size_um)``: the reviewed cells of analysed scans
    (uvscope.analysis.trainset.reviewed_crops, passed in by the CLI), split by slide.
    ``sim_crops(tiles, pixel_size_um)``: a simulator export's cells cut with the shipped
    segmentation's masks as the analysis cuts them (uvscope.analysis.sim_trainset, passed in
    by the CLI): the classifier trains on these beside the truth-mask crops and is validated
    and tested on them.
    """
    _check_run_numbers(epochs, lr, nucleus_weight, steps_per_epoch, seed, own)
    kw = _run_kwargs(kind, resume, nucleus_weight, lr, steps_per_epoch, class_weights)
    if nucleus_weight != 1.0 and kind != "segment":
        raise ModelError("--nucleus-weight applies to segment only")
    cfg = _config(kind, size, overrides, backbone)
    t0 = time.time()
    card: dict[str, Any] = {
        "seed": seed,
        "command": "uvscope " + " ".join(sys.argv[1:]),
        "machine": machine_description(),
        "device": str(resolve_device(device)),
    }
    if scan_crops is not None:
        if kind != "classify":
            raise ModelError("scan folders with reviewed labels train the classifier only")
        trainer = _reviewed_trainer(scan_crops, cfg, card, own or OwnOptions(), init, log)
    elif is_own_data(data):
        trainer = _own_trainer(kind, data, cfg, own or OwnOptions(), init, card, log)
    elif kind == "classify" and is_crop_folder(data):
        if init is not None:
            raise ModelError("--init does not apply to crop folders (whole colour crops)")
        trainer = _crop_trainer(data, cfg, seed, card, own or OwnOptions())
    else:
        if init is not None and kind not in ("segment", "classify"):
            raise ModelError("--init applies to segment and classify only")
        trainer = _sim_trainer(kind, data, cfg, card, init, log, sim_crops)
    stage = _stage(out, kind, resume)
    if class_weights:
        card["class_weights"] = dict(class_weights)
    net, hist, cfg = trainer(epochs, stage / "work", device, seed, log, kw)
    cfg = _taught_config(kind, cfg, net)
    # training time over all (resumed) runs, plus this run's wall time including data loading
    card["training_seconds"] = round(max(hist.elapsed(), time.time() - t0), 1)
    if "init" in card:
        card["fine_tune_seconds"] = card["training_seconds"]
        card["training_seconds"] = round(
            card["training_seconds"] + float(card["init"]["training_seconds"] or 0.0), 1
        )
    card["wall_seconds_this_run"] = round(time.time() - t0, 1)
    card["history"] = hist.to_dict()
    card["epochs"] = epochs
    full = save_model(net, kind, cfg, stage / f"{kind}.safetensors", card)
    _publish(stage, out, kind)
    log(
        f"wrote {out / f'{kind}.safetensors'} ({full['file_size_bytes'] / 1e6:.2f} MB) "
        f"in {card['wall_seconds_this_run']:.0f} s"
        + (
            f" (the weights' training in all, start weights included: "
            f"{card['training_seconds']:.0f} s)"
            if card["training_seconds"] > card["wall_seconds_this_run"] + 1
            else ""
        )
    )
    log(json.dumps(full["metrics"], indent=1))
    return full


def _taught_config(kind: str, cfg: Any, net: torch.nn.Module) -> Any:
    """A classifier's config with the class head its training data taught (``fit_head``)."""
    if kind != "classify":
        return cfg
    return dataclasses.replace(cfg, classes=tuple(getattr(net, "classes", cfg.classes)))


def _run_kwargs(
    kind: str,
    resume: bool,
    nucleus_weight: float,
    lr: float | None,
    steps_per_epoch: int | None,
    class_weights: dict[str, float] | None,
) -> dict[str, Any]:
    """The trainer's keyword arguments that apply to ``kind``."""
    kw: dict[str, Any] = {"resume": resume}
    if kind == "segment":
        kw["nucleus_weight"] = nucleus_weight
    if lr is not None and kind in ("segment", "classify"):
        kw["lr"] = lr
    if class_weights:
        _check_class_weights(kind, class_weights)
        kw["class_weights"] = dict(class_weights)
    if steps_per_epoch and kind in ("segment", "stain"):
        kw["patches_per_epoch"] = steps_per_epoch * 8
    return kw


def _check_class_weights(kind: str, weights: dict[str, float]) -> None:
    """Sampling factors name classes the classifier knows and are above 0."""
    if kind != "classify":
        raise ModelError("--class-weight applies to classify only")
    for name, factor in weights.items():
        if name not in CLASS_NAMES:
            raise ModelError(
                f"--class-weight {name}={factor}: unknown class; use one of "
                + ", ".join(CLASS_NAMES)
            )
        if not (math.isfinite(factor) and factor > 0):
            raise ModelError(f"--class-weight {name}={factor}: the factor must be above 0")


Trainer = Any  # (epochs, work, device, seed, log, kw) -> (net, history, final cfg)


def _check_run_numbers(
    epochs: int,
    lr: float | None,
    nucleus_weight: float,
    steps_per_epoch: int | None,
    seed: int,
    own: OwnOptions | None,
) -> None:
    """Refuse numbers no training can use before anything is read or written: 0 epochs
    would publish the start weights as a trained model, a negative rate climbs the loss."""
    bad: list[str] = []
    if epochs < 1:
        bad.append(f"--epochs {epochs}: train at least 1 epoch")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        bad.append(f"--lr {lr}: the learning rate must be above 0 (default 3e-3)")
    if not (math.isfinite(nucleus_weight) and nucleus_weight >= 0):
        bad.append(f"--nucleus-weight {nucleus_weight}: give 0 or more")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        bad.append(f"--steps {steps_per_epoch}: give 1 or more batches per epoch")
    if seed < 0:
        bad.append(f"--seed {seed}: give 0 or more")
    if own is not None:
        bad += _own_option_problems(own)
    if bad:
        raise ModelError("; ".join(bad))


def _own_option_problems(own: OwnOptions) -> list[str]:
    bad: list[str] = []
    px = own.pixel_size_um
    if px is not None and not (math.isfinite(px) and px > 0):
        bad.append(f"--pixel-size-um {px}: give the image's um per pixel, above 0")
    if own.folds < 2:
        bad.append(f"--folds {own.folds}: a k-fold split needs k of 2 or more")
    elif not 0 <= own.fold < own.folds:
        bad.append(f"--fold {own.fold}: give 0 to {own.folds - 1} (--folds {own.folds})")
    return bad


def _own_trainer(
    kind: str,
    data: Path,
    cfg: Any,
    opt: OwnOptions,
    init: str | Path | None,
    card: dict[str, Any],
    log: Log,
) -> Trainer:
    """Validate own images + masks now; return the training step for later."""
    from uvscope.models.maskcheck import cell_size_problem
    from uvscope.models.owndata import open_own_data, split_names
    from uvscope.models.train_own import (
        class_scores,
        own_crops_named,
        skipped_text,
        train_own_classify,
        train_own_segment,
    )

    if kind == "stain":
        raise ModelError(
            "own images with masks train segment or classify; staining needs 260 nm / "
            "stained pairs (uvscope pseudocolor SCAN_DIR writes them)"
        )
    ds = open_own_data(data, opt.pixel_size_um, cfg.pixel_size_um, opt.modality)
    size_problem = cell_size_problem(ds.median_cell_diameter_um, ds.pixel_size_um)
    if size_problem:
        log(f"warning: {data}: {size_problem}")
        card["warnings"] = [size_problem]
    split = split_names(ds, opt.folds, opt.fold, 0)
    inp = _crop_input(ds.modality, opt.classifier_input) if kind == "classify" else "gray"
    if (
        kind == "classify"
        and not any(it.label is not None for it in ds.items)
        and not (ds.cell_labels)
    ):
        raise ModelError(f"{data} has no classes.csv; the classifier needs name,class rows")
    init_path, init_rec = _init_path(init if init is not None else opt.init, cfg, kind)
    if kind == "classify" and inp != "composite":
        init_path, init_rec = None, {"init_skipped": "the shipped weights take composite crops"}
    card.update(init_rec)
    card["modality"] = ds.modality
    card["input"] = inp
    norm = _colour_norm(opt, inp)
    if norm:
        card["rgb_normalisation"] = norm
    card["data"] = {
        **ds.summary(),
        "folds": opt.folds,
        "fold": opt.fold,
        "split_by": "group (groups.csv)" if ds.groups_given else "stratified by class",
        "split": split,
        "resampled_by": round(ds.pixel_size_um / cfg.pixel_size_um, 6),
    }
    card["augmentation"] = (
        "flips/rotations, scale jitter 0.8-1.25, gamma, contrast, brightness, defocus blur, "
        "noise" + (", per-channel colour gains" if inp == "rgb-crop" else "")
    )
    log(
        f"{data}: {len(ds.items)} images ({ds.layout}), {ds.pixel_size_um} um/px -> "
        f"{cfg.pixel_size_um} um/px, {ds.modality}; fold {opt.fold} of {opt.folds}"
        + (f"; fine-tuning {init_path}" if init_path else "; from scratch")
    )

    def run(
        epochs: int, work: Path, device: str, seed: int, log: Log, kw: dict[str, Any]
    ) -> tuple[Any, ...]:
        if kind == "segment":
            net, hist, m = train_own_segment(
                ds,
                split,
                cfg,
                epochs,
                work,
                device,
                seed,
                log,
                init=init_path,
                augment="microscopy",
                **kw,
            )
            card["metrics"] = m
            return net, hist, cfg
        net, hist, extras = train_own_classify(
            ds, split, cfg, inp, epochs, work, device, seed, log, norm, init=init_path, **kw
        )
        card.update(extras)
        te, skipped = own_crops_named(ds, split["test"], cfg, inp, norm)
        clf = CellClassifier(net, cfg, card, device="cpu")
        card["metrics"] = {"test_fold": class_scores(clf.predict(te.x)[1], te)}
        if skipped:
            card["metrics"]["test_fold"]["skipped_images"] = skipped
            log("warning: " + skipped_text(skipped, len(split["test"]), "the test-fold score"))
        return net, hist, cfg

    return run


def slide_split(groups: list[str], k: int, fold: int) -> dict[str, np.ndarray]:
    """Indices of test (fold ``fold``), validation (the next) and training cells, whole slides
    per fold: a slide's cells never sit on both sides."""
    slides = sorted(set(groups))
    k = min(k, len(slides))
    if k < 3:
        raise ModelError(
            f"reviewed labels come from {len(slides)} slide(s); a split by slide needs at least "
            "3 scans (training, validation and test slides): review more scans"
        )
    order = [slides[i] for i in np.random.default_rng(0).permutation(len(slides))]
    fold_of = {g: i % k for i, g in enumerate(order)}
    f = np.array([fold_of[g] for g in groups])
    test, val = fold % k, (fold + 1) % k
    return {
        "test": np.flatnonzero(f == test),
        "val": np.flatnonzero(f == val),
        "train": np.flatnonzero((f != test) & (f != val)),
    }


def _reviewed_trainer(
    scan_crops: Callable[[int, float], Any],
    cfg: ClassifyConfig,
    card: dict[str, Any],
    opt: OwnOptions,
    init: str | Path | None,
    log: Log,
) -> Trainer:
    rc = scan_crops(cfg.crop_size, cfg.pixel_size_um)  # checks every scan first
    arr = CropArrays(rc.x, rc.label, rc.dead)
    idx = slide_split(rc.group, opt.folds, opt.fold)
    init_path, init_rec = _init_path(init if init is not None else opt.init, cfg, "classify")
    card.update(init_rec)
    card["modality"] = "uv260"
    card["input"] = "composite"
    card["data"] = {
        "kind": "reviewed labels of analysed scans",
        "scans": sorted(set(rc.group)),
        "split_by": "slide (scan folder)",
        "split": {k: sorted({rc.group[i] for i in v}) for k, v in idx.items()},
        "n_cells": {k: int(len(v)) for k, v in idx.items()},
        "class_counts": {
            ("dead" if c < 0 else CLASS_NAMES[c]): int((rc.label == c).sum())
            for c in sorted(set(rc.label.tolist()))
        },
    }
    log(f"{len(rc.x)} reviewed cells from {rc.n_scans} scans, by slide {card['data']['split']}")

    def run(
        epochs: int, work: Path, device: str, seed: int, log: Log, kw: dict[str, Any]
    ) -> tuple[Any, ...]:
        net, hist, extra = train_classifier(
            arr.subset(idx["train"]),
            arr.subset(idx["val"]),
            cfg,
            epochs,
            work,
            device,
            seed,
            log=log,
            augment="composite",
            init=init_path,
            **kw,
        )
        card.update(extra)
        from uvscope.models.train_own import class_scores

        te = arr.subset(idx["test"])
        clf = CellClassifier(net, cfg, card, device="cpu")
        card["metrics"] = {"test_slides": class_scores(clf.predict(te.x)[1], te)}
        return net, hist, cfg

    return run


def _crop_trainer(
    data: Path, cfg: ClassifyConfig, seed: int, card: dict[str, Any], opt: OwnOptions
) -> Trainer:
    from uvscope.models.owndata import read_toml

    crops = load_crop_folder(data, cfg.crop_size)  # reads and checks every crop first
    meta = read_toml(data)
    colour = bool(np.any(np.abs(crops.x[:, 0] - crops.x[:, 1]) > 1e-3))
    mod = opt.modality or str(meta.get("modality") or ("rgb-stained" if colour else "uv260"))
    inp = _crop_input(mod, opt.classifier_input)
    norm = _colour_norm(opt, inp)
    x = colour_normalise(crops.x, norm) if norm else crops.x
    arr = CropArrays(x, crops.label, crops.dead)
    tr, va = stratified_kfold(np.where(arr.dead > 0, len(CLASS_NAMES), arr.label), k=5, seed=seed)[
        0
    ]
    card["modality"] = mod
    card["input"] = inp
    if norm:
        card["rgb_normalisation"] = norm
    card["data"] = {
        "path": str(data),
        "kind": "crop folder",
        "n_train": int(len(tr)),
        "n_val": int(len(va)),
        "split": "stratified 80/20",
        "pixel_size_um": meta.get("pixel_size_um"),
        "crops": "each image resized to the crop size",
        "class_counts": {
            ("dead" if c < 0 else CLASS_NAMES[c]): int((arr.label == c).sum())
            for c in sorted(set(arr.label.tolist()))
        },
    }

    def run(
        epochs: int, work: Path, device: str, seed: int, log: Log, kw: dict[str, Any]
    ) -> tuple[Any, ...]:
        net, hist, extra = train_classifier(
            arr.subset(tr),
            arr.subset(va),
            cfg,
            epochs,
            work,
            device,
            seed,
            log=log,
            augment="composite" if inp == "composite" else "rgb",
            **kw,
        )
        card.update(extra)
        card["metrics"] = {
            "val": _cls_summary(
                evaluate_arrays(*_predict_cls(net, arr.subset(va).x), arr.subset(va))
            )
        }
        return net, hist, cfg

    return run


def _sim_trainer(
    kind: str,
    data: Path,
    cfg: Any,
    card: dict[str, Any],
    init: str | Path | None,
    log: Log,
    sim_crops: Callable[[list[Any], float], CropArrays] | None = None,
) -> Trainer:
    """A `uvscope simulate` dataset, split by donor (the shipped weights' path)."""
    ds = open_dataset(data)
    split = split_donors(ds)
    if kind == "classify" and not any((t.path / "cells.csv").exists() for t in ds.tiles):
        raise ModelError(
            f"no tile under {data} has a cells.csv (id,kind[,dead] per labelled cell), so "
            "there is nothing to train a classifier on; add them or use a crop folder"
        )
    card["data"] = {
        "path": str(data),
        "pixel_size_um": ds.pixel_size_um,
        "split_by_donor": split,
        "n_tiles": len(ds.tiles),
    }
    card["modality"] = "uv260"
    init_path, init_rec = _init_path(init, cfg, kind) if init is not None else (None, {})
    card.update(init_rec)

    def run(
        epochs: int, work: Path, device: str, seed: int, log: Log, kw: dict[str, Any]
    ) -> tuple[Any, ...]:
        c = cfg
        net: torch.nn.Module
        if kind == "segment":
            assert isinstance(c, SegConfig)
            tr, va, te = (_tiles(ds, split[s], c.pixel_size_um) for s in ("train", "val", "test"))
            net, hist = train_segmenter(
                tr, va, c, epochs, work, device, seed, log=log, init=init_path, **kw
            )
            card["metrics"] = {
                "test_heldout_donors": seg_metrics(
                    segment_tiles(net, te, torch.device("cpu")), tile_targets(te)
                )
            }
        elif kind == "stain":
            assert isinstance(c, StainConfig)
            tr, va, te = (
                _tiles(ds, split[s], c.pixel_size_um, rgb=True) for s in ("train", "val", "test")
            )
            if c.lightness == "fitted" and not c.l_curve and not c.predict_l:
                paired = [t for t in tr if t.rgb is not None]
                curve = fit_lightness_curve(
                    [t.gray for t in paired], [t.rgb for t in paired if t.rgb is not None]
                )
                c = dataclasses.replace(c, l_curve=curve)
                log(f"lightness curve fitted on {len(tr)} training tiles: {c.l_curve}")
            net, hist = train_stainer(tr, va, c, epochs, work, device, seed, log=log, **kw)
            (rgb_off, value_off), tried = choose_offsets(net, va, c)
            c = dataclasses.replace(c, rgb_offset=rgb_off, value_offset=value_off)
            card["post_offsets_val_msssim"] = tried
            log(f"post-processing offsets chosen on validation: RGB {rgb_off}, value {value_off}")
            card["metrics"] = {"test_heldout_donors": stain_metrics(net, te, c)}
        else:
            assert isinstance(c, ClassifyConfig)
            net, hist = _train_sim_classifier(
                ds, split, c, card, init_path, sim_crops, (epochs, work, device, seed, log, kw)
            )
        return net, hist, c

    return run


def _train_sim_classifier(
    ds: Dataset,
    split: dict[str, list[str]],
    c: ClassifyConfig,
    card: dict[str, Any],
    init_path: Path | None,
    sim_crops: Callable[[list[Any], float], CropArrays] | None,
    run_args: tuple[int, Path, str, int, Log, dict[str, Any]],
) -> tuple[torch.nn.Module, Any]:
    """The classifier on a simulator export (split by donor); its test metrics into ``card``."""
    epochs, work, device, seed, log, kw = run_args
    tr_c, va_c, te_c = (_crop_arrays(ds, split[s], c) for s in ("train", "val", "test"))
    seg = _segmented_crops(ds, split, sim_crops, card, log, c.crop_size)
    if seg is not None:
        tr_c, va_c = concat_crops([tr_c, seg["train"]], c.crop_size), seg["val"]
    if not len(tr_c.x) or not len(va_c.x):
        raise ModelError(
            f"the training or validation donors of {card['data']['path']} hold no labelled "
            "cells (cells.csv rows whose kind is a class or dead); label more tiles"
        )
    card["data"]["n_cells"] = {"train": len(tr_c.x), "val": len(va_c.x), "test": len(te_c.x)}
    net, hist, extra = train_classifier(
        tr_c, va_c, c, epochs, work, device, seed, log=log, init=init_path, **kw
    )
    card.update(extra)
    shipped = CellClassifier(net, c, card, device="cpu")  # as the analysis loads it
    card["metrics"] = {
        "test_heldout_donors": _cls_summary(evaluate_arrays(*_predict_cls(net, te_c.x), te_c)),
        # with the orientation averaging and dead-cell checkpoint of inference
        "test_heldout_donors_as_shipped": _cls_summary(
            evaluate_arrays(*shipped.predict(te_c.x), te_c)
        ),
    }
    if seg is not None:
        card["metrics"]["test_heldout_donors_segmented_crops"] = _cls_summary(
            evaluate_arrays(*shipped.predict(seg["test"].x), seg["test"])
        )
    return net, hist


def _segmented_crops(
    ds: Dataset,
    split: dict[str, list[str]],
    sim_crops: Callable[[list[Any], float], CropArrays] | None,
    card: dict[str, Any],
    log: Log,
    crop_size: int,
) -> dict[str, CropArrays] | None:
    """Each split's cells cut with the segmentation's masks (``run_training``'s
    ``sim_crops``), counted in the card; None without ``sim_crops``."""
    if sim_crops is None:
        return None
    out = {
        s: sim_crops([t for t in ds.tiles if t.donor in set(split[s])], ds.pixel_size_um)
        for s in ("train", "val", "test")
    }
    size = next((v.x.shape[-1] for v in out.values() if len(v.x)), crop_size)
    if size != crop_size:
        raise ModelError(
            f"segmented crops are {size} px (the shipped classifier's crops) but this network "
            f"takes {crop_size} px: train it with --crops truth, or with the shipped size"
        )
    card["data"]["segmented_crops"] = {
        "what": "the cells the shipped segmentation finds, labelled by the truth cell they "
        "overlap (IoU >= 0.4), cut as the analysis cuts them; training uses them beside the "
        "truth-mask crops, validation and the segmented test metrics use them alone",
        "n_cells": {s: len(v.x) for s, v in out.items()},
    }
    log(f"segmented crops: {card['data']['segmented_crops']['n_cells']}")
    return out


def _predict_cls(net: torch.nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from uvscope.models.train_classify import predict_arrays

    return predict_arrays(net, x, torch.device("cpu"))  # type: ignore[arg-type]


def _cls_summary(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "five_part_accuracy": m["five_part_accuracy"],
        "five_part": m["five_part_report"].to_dict(),
    }
    if "preclass_accuracy" in m:
        out["preclass_accuracy"] = m["preclass_accuracy"]
    if "dead_accuracy" in m:
        out["dead_accuracy"] = m["dead_accuracy"]
        out["dead"] = m["dead_report"].to_dict()
    return out


def _evaluate_own(
    kind: str, data: Path, weights: str, device: str, split: str, opt: OwnOptions
) -> dict[str, Any]:
    from uvscope.models.maskcheck import cell_size_problem
    from uvscope.models.owndata import open_own_data
    from uvscope.models.train_own import (
        class_scores,
        own_crops_named,
        resolve_split,
        segment_scores,
        skipped_text,
    )

    if kind not in ("segment", "classify"):
        raise ModelError("own images with masks evaluate segment or classify models")
    load = load_segmenter if kind == "segment" else load_classifier
    model: Any = load(weights, device)
    opt = _with_card_defaults(opt, model.card, data)
    ds = open_own_data(data, opt.pixel_size_um, model.cfg.pixel_size_um, opt.modality)
    names = resolve_split(model.card, ds, split)
    wanted = names if names is not None else [it.name for it in ds.items]
    res: dict[str, Any] = {
        "data": str(data),
        "images": "held-out fold " + split if names is not None else "all",
        "pixel_size_um": ds.pixel_size_um,
    }
    warnings: list[str] = []
    trained_on = (model.card.get("data") or {}).get("median_cell_diameter_um")
    size_problem = cell_size_problem(
        ds.median_cell_diameter_um,
        ds.pixel_size_um,
        float(trained_on) if isinstance(trained_on, (int, float)) else None,
    )
    if size_problem:
        warnings.append(size_problem)
    if kind == "segment":
        res.update(segment_scores(model.net, ds, wanted, model.cfg))
    else:
        inp = str(model.card.get("input", "composite"))
        crops, skipped = own_crops_named(ds, names, model.cfg, inp, card_method(model.card))
        res["input"] = inp
        res.update(class_scores(model.predict(crops.x)[1], crops))
        if skipped:
            res["images"] += f" ({len(wanted) - len(skipped)} of {len(wanted)} scored)"
            res["skipped_images"] = skipped
            warnings.append(skipped_text(skipped, len(wanted), "the score"))
    if warnings:
        res["warnings"] = warnings
    return res


def _with_card_defaults(opt: OwnOptions, card: dict[str, Any], data: Path) -> OwnOptions:
    """Evaluating the folder the weights were trained on: its pixel size and modality as
    the card recorded them, unless the command line or dataset.toml gives them."""
    from uvscope.models.owndata import read_toml

    trained = card.get("data") or {}
    if str(Path(str(trained.get("path", ""))).resolve()) != str(Path(data).resolve()):
        return opt
    meta = read_toml(Path(data))
    px, mod = opt.pixel_size_um, opt.modality
    if px is None and meta.get("pixel_size_um") is None:
        px = trained.get("pixel_size_um")
    if mod is None and meta.get("modality") is None:
        mod = trained.get("modality")
    return dataclasses.replace(opt, pixel_size_um=px, modality=mod)


def stain_metrics(
    gen: torch.nn.Module, tiles: list[TileArrays], cfg: StainConfig
) -> dict[str, float]:
    from uvscope.models.train_stain import stain_arrays

    x, y = grid_patches(tiles, cfg.patch_size, with_rgb=True)
    dev = next(gen.parameters()).device
    pred = stain_arrays(gen, x, dev, 8, True, cfg.rgb_offset, cfg.value_offset)  # type: ignore[arg-type]
    mean, per = msssim_rgb(pred, y)
    _, ym = grid_patches(tiles, cfg.patch_size)
    keep = ym[:, 0].reshape(len(ym), -1).mean(1) >= 0.01
    out = {"msssim_all_patches": mean, "msssim_r": per[0], "msssim_g": per[1], "msssim_b": per[2]}
    if keep.any():
        out["msssim"] = msssim_rgb(pred[keep], y[keep])[0]
        out["n_patches"] = float(keep.sum())
    return out


def run_evaluation(
    kind: str,
    data: Path,
    weights: str,
    device: str = "auto",
    split: str = "test",
    own: OwnOptions | None = None,
) -> dict[str, Any]:
    """Metrics of a weights file on one donor split (default: the held-out test donors).

    Own images with masks: the weights' held-out fold when they were trained on this folder,
    else every image; crop folders: every crop. Both beside a baseline (Otsu thresholds for
    segmentation, the majority class for classification).
    """
    if is_own_data(data):
        return _evaluate_own(kind, data, weights, device, split, own or OwnOptions())
    if kind == "classify" and is_crop_folder(data):
        from uvscope.models.train_own import class_scores

        clf = load_classifier(weights, device)
        folder = load_crop_folder(data, clf.crop_size)
        norm = card_method(clf.card)
        x = colour_normalise(folder.x, norm) if norm else folder.x
        arr = CropArrays(x, folder.label, folder.dead)
        pd, pc = clf.predict(arr.x)
        out = {"data": str(data), **_cls_summary(evaluate_arrays(pd, pc, arr))}
        out.update(class_scores(pc, arr))
        return out
    ds = open_dataset(data)
    donors = split_donors(ds)[split] if split != "all" else ds.donors
    res: dict[str, Any] = {"data": str(data), "split": split, "donors": donors}
    if kind == "segment":
        seg = load_segmenter(weights, device)
        tiles = _tiles(ds, donors, seg.pixel_size_um)
        probs = [np.stack(seg.predict(t.gray[None]))[:, 0] for t in tiles]
        res.update(seg_metrics(probs, tile_targets(tiles)))
    elif kind == "stain":
        st = load_stainer(weights, device)
        tiles = _tiles(ds, donors, st.pixel_size_um, rgb=True)
        res.update(stain_metrics(st.net, tiles, st.cfg))
    elif kind == "classify":
        clf = load_classifier(weights, device)
        crops = _crop_arrays(ds, donors, clf.cfg)
        pd, pc = clf.predict(crops.x)
        res.update(_cls_summary(evaluate_arrays(pd, pc, crops)))
        res["class_order"] = list(clf.classes)
    else:
        raise ModelError(f"unknown model kind {kind!r}; use segment, stain or classify")
    return res
