"""Train and evaluate end to end: data folder in, checked weights + model card out.

The CLI (uvscope.cli.train) is a thin layer over ``run_training`` and ``run_evaluation``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uvscope.errors import ModelError
from uvscope.models.arch import CLASS_NAMES, ClassifyConfig, SegConfig, StainConfig, preset
from uvscope.models.loop import Log
from uvscope.models.metrics import msssim_rgb, stratified_kfold
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
) -> dict[str, Any]:
    """Train one model kind; writes out/<kind>.safetensors + out/<kind>.json, returns the card.

    ``overrides`` replaces fields of the size preset (e.g. {"base_width": 16, "predict_l": True}).
    ``init`` (segment only) fine-tunes from a weights file with the same architecture; its
    training time is added to the card's, so the card tells the full cost of the weights.
    """
    if (init is not None or nucleus_weight != 1.0) and kind != "segment":
        raise ModelError("--init and --nucleus-weight apply to segment only")
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
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    work = out / f"{kind}_work"
    card: dict[str, Any] = {
        "seed": seed,
        "command": "uvscope " + " ".join(sys.argv[1:]),
        "machine": machine_description(),
        "device": str(resolve_device(device)),
    }
    if kind == "classify" and is_crop_folder(data):
        crops = load_crop_folder(data, cfg.crop_size)
        arr = CropArrays(crops.x, crops.label, crops.dead)
        tr, va = stratified_kfold(np.where(arr.dead > 0, 5, arr.label), k=5, seed=seed)[0]
        card["data"] = {
            "path": str(data),
            "kind": "crop folder",
            "n_train": int(len(tr)),
            "n_val": int(len(va)),
            "split": "stratified 80/20",
        }
        net, hist, extra = train_classifier(
            arr.subset(tr), arr.subset(va), cfg, epochs, work, device, seed, resume=resume, log=log
        )
        card.update(extra)
        card["metrics"] = {
            "val": _cls_summary(
                evaluate_arrays(*_predict_cls(net, arr.subset(va).x), arr.subset(va))
            )
        }
    else:
        ds = open_dataset(data)
        split = split_donors(ds)
        card["data"] = {
            "path": str(data),
            "pixel_size_um": ds.pixel_size_um,
            "split_by_donor": split,
            "n_tiles": len(ds.tiles),
        }
        if kind == "segment":
            assert isinstance(cfg, SegConfig)
            tr, va, te = (_tiles(ds, split[s], cfg.pixel_size_um) for s in ("train", "val", "test"))
            kw: dict[str, Any] = (
                {"patches_per_epoch": steps_per_epoch * 8} if steps_per_epoch else {}
            )
            if lr is not None:
                kw["lr"] = lr
            if init is not None:
                init_path = resolve(init, "segment")
                init_card = read_card(init_path)
                card["init"] = {
                    "path": str(init_path),
                    "sha256": init_card.get("sha256"),
                    "command": init_card.get("command"),
                    "training_seconds": init_card.get("training_seconds", 0.0),
                }
                if init_card.get("init"):  # the start weights were a fine-tune: keep the lineage
                    card["init"]["init"] = init_card["init"]
            net, hist = train_segmenter(
                tr,
                va,
                cfg,
                epochs,
                work,
                device,
                seed,
                resume=resume,
                log=log,
                init=init_path if init is not None else None,
                nucleus_weight=nucleus_weight,
                **kw,
            )
            card["metrics"] = {
                "test_heldout_donors": seg_metrics(
                    segment_tiles(net, te, torch.device("cpu")), tile_targets(te)
                )
            }
        elif kind == "stain":
            assert isinstance(cfg, StainConfig)
            tr, va, te = (
                _tiles(ds, split[s], cfg.pixel_size_um, rgb=True) for s in ("train", "val", "test")
            )
            kw = {"patches_per_epoch": steps_per_epoch * 8} if steps_per_epoch else {}
            if cfg.lightness == "fitted" and not cfg.l_curve and not cfg.predict_l:
                paired = [t for t in tr if t.rgb is not None]
                curve = fit_lightness_curve([t.gray for t in paired], [t.rgb for t in paired])
                cfg = dataclasses.replace(cfg, l_curve=curve)
                log(f"lightness curve fitted on {len(tr)} training tiles: {cfg.l_curve}")
            net, hist = train_stainer(
                tr, va, cfg, epochs, work, device, seed, resume=resume, log=log, **kw
            )
            (rgb_off, value_off), tried = choose_offsets(net, va, cfg)
            cfg = dataclasses.replace(cfg, rgb_offset=rgb_off, value_offset=value_off)
            card["post_offsets_val_msssim"] = tried
            log(f"post-processing offsets chosen on validation: RGB {rgb_off}, value {value_off}")
            card["metrics"] = {"test_heldout_donors": stain_metrics(net, te, cfg)}
        elif kind == "classify":
            assert isinstance(cfg, ClassifyConfig)
            tr_c, va_c, te_c = (_crop_arrays(ds, split[s], cfg) for s in ("train", "val", "test"))
            card["data"]["n_cells"] = {
                "train": len(tr_c.x),
                "val": len(va_c.x),
                "test": len(te_c.x),
            }
            net, hist, extra = train_classifier(
                tr_c, va_c, cfg, epochs, work, device, seed, resume=resume, log=log
            )
            card.update(extra)
            shipped = CellClassifier(net, cfg, card, device="cpu")  # as the analysis loads it
            card["metrics"] = {
                "test_heldout_donors": _cls_summary(
                    evaluate_arrays(*_predict_cls(net, te_c.x), te_c)
                ),
                # with the orientation averaging and dead-cell checkpoint of inference
                "test_heldout_donors_as_shipped": _cls_summary(
                    evaluate_arrays(*shipped.predict(te_c.x), te_c)
                ),
            }
        else:
            raise ModelError(f"unknown model kind {kind!r}; use segment, stain or classify")
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
    full = save_model(net, kind, cfg, out / f"{kind}.safetensors", card)
    log(
        f"wrote {out / f'{kind}.safetensors'} ({full['file_size_bytes'] / 1e6:.2f} MB) "
        f"in {card['training_seconds']:.0f} s"
    )
    log(json.dumps(full["metrics"], indent=1))
    return full


def _predict_cls(net: torch.nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from uvscope.models.train_classify import predict_arrays

    return predict_arrays(net, x, torch.device("cpu"))  # type: ignore[arg-type]


def _cls_summary(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "five_part_accuracy": m["five_part_accuracy"],
        "five_part": m["five_part_report"].to_dict(),
    }
    if "dead_accuracy" in m:
        out["dead_accuracy"] = m["dead_accuracy"]
        out["dead"] = m["dead_report"].to_dict()
    return out


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
    kind: str, data: Path, weights: str, device: str = "auto", split: str = "test"
) -> dict[str, Any]:
    """Metrics of a weights file on one donor split (default: the held-out test donors)."""
    if kind == "classify" and is_crop_folder(data):
        clf = load_classifier(weights, device)
        crops = load_crop_folder(data, clf.crop_size)
        arr = CropArrays(crops.x, crops.label, crops.dead)
        pd, pc = clf.predict(arr.x)
        return {"data": str(data), **_cls_summary(evaluate_arrays(pd, pc, arr))}
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
        res["class_order"] = list(CLASS_NAMES)
    else:
        raise ModelError(f"unknown model kind {kind!r}; use segment, stain or classify")
    return res
