"""Stratified 5-fold cross-validation of the classifier on the real BCCD crops.

A check of the "train on your own labelled folder" path (stained RGB crops, very imbalanced),
not of the deep-UV task. Prints the pooled per-class table over the 5 test folds as Markdown.

    PYTHONPATH=. python benchmarks/bench_bccd_cv.py [--epochs 25] [--backbone resnet18]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from uvscope.models.arch import CLASS_NAMES, preset
from uvscope.models.metrics import classification_report, stratified_kfold
from uvscope.models.train_classify import CropArrays, predict_arrays, train_classifier
from uvscope.models.userdata import load_crop_folder

_ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the repository (main checkout) or beside the worktrees folder
DATA = next(
    (
        p
        for p in (
            _ROOT / ".." / "shared" / "data" / "bccd-wbc-crops",
            _ROOT / ".." / ".." / "shared" / "data" / "bccd-wbc-crops",
        )
        if p.is_dir()
    ),
    _ROOT / ".." / "shared" / "data" / "bccd-wbc-crops",
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"BCCD crops not found at {args.data}")
    cfg = dataclasses.replace(preset("classify", "small"), backbone=args.backbone, width=args.width)
    crops = load_crop_folder(args.data, cfg.crop_size)
    data = CropArrays(crops.x, crops.label, crops.dead)
    import torch

    y_true, y_pred = [], []
    t0 = time.time()
    for f, (tr, te) in enumerate(stratified_kfold(data.label, args.folds, seed=0)):
        # validation for model choice comes from the training folds, never the test fold
        inner_tr, inner_va = stratified_kfold(data.label[tr], 5, seed=f)[0]
        net, hist, _ = train_classifier(
            data.subset(tr[inner_tr]),
            data.subset(tr[inner_va]),
            cfg,
            args.epochs,
            seed=f,
            log=lambda s: None,
        )
        _, pc = predict_arrays(net, data.x[te], torch.device("cpu"))
        y_true.append(data.label[te])
        y_pred.append(pc.argmax(1))
        acc = float((y_pred[-1] == y_true[-1]).mean())
        print(
            f"fold {f + 1}/{args.folds}: accuracy {acc:.4f} "
            f"(best epoch {hist.best_epoch + 1}, {time.time() - t0:.0f} s)",
            flush=True,
        )
    rep = classification_report(np.concatenate(y_true), np.concatenate(y_pred), CLASS_NAMES)
    print(
        f"\nBCCD {args.folds}-fold CV, {args.backbone} width {args.width}, {args.epochs} epochs, "
        f"{time.time() - t0:.0f} s\n"
    )
    print(rep.markdown())
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "backbone": args.backbone,
                    "width": args.width,
                    "epochs": args.epochs,
                    "seconds": time.time() - t0,
                    **rep.to_dict(),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
