"""k-fold segmentation on a lab's own labelled images, summarised as the own-data page's table.

    python benchmarks/bench_own_data.py --data ../shared/data/zheng-wbc-d1 --pixel-size-um 0.16 \
        --runs /tmp/own-seg --epochs 12            # trains the folds not yet in --runs
    python benchmarks/bench_own_data.py --runs /tmp/own-seg --summary-only

Each fold is one `uvscope train segment` (fine-tuned from the shipped weights, the own-data
default) whose card holds the held-out fold's Dice at the images' resolution and Otsu's on the
same images. Run it under `nice -n 10` with OMP_NUM_THREADS=1 on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

KEYS = ("cell_dice", "nucleus_dice", "otsu_cell_dice", "otsu_nucleus_dice")


def train_fold(args: argparse.Namespace, fold: int) -> None:
    out = args.runs / f"fold{fold}"
    if (out / "segment.json").exists():
        return
    cmd = [
        sys.executable,
        "-m",
        "uvscope",
        "train",
        "segment",
        "--data",
        str(args.data),
        "--out",
        str(out),
        "--fold",
        str(fold),
        "--folds",
        str(args.folds),
        "--epochs",
        str(args.epochs),
    ]
    if args.pixel_size_um:
        cmd += ["--pixel-size-um", str(args.pixel_size_um)]
    if args.init:
        cmd += ["--init", args.init]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def summary(runs: Path, folds: int) -> str:
    rows, vals = [], {k: [] for k in KEYS}
    minutes = 0.0
    for f in range(folds):
        card_file = runs / f"fold{f}" / "segment.json"
        if not card_file.exists():
            continue
        card = json.loads(card_file.read_text())
        m = card["metrics"]["test_fold"]
        minutes += card.get("fine_tune_seconds", card["training_seconds"]) / 60
        for k in KEYS:
            vals[k].append(m[k])
        rows.append(
            f"| {f} | {int(m['n_images'])} | " + " | ".join(f"{m[k]:.4f}" for k in KEYS) + " |"
        )
    head = [
        "| fold | test images | cell Dice | nucleus Dice | Otsu cell Dice | Otsu nucleus Dice |",
        "|---|---|---|---|---|---|",
    ]
    mean = "| **mean** | | " + " | ".join(f"**{np.mean(vals[k]):.4f}**" for k in KEYS) + " |"
    return "\n".join([*head, *rows, mean, "", f"{len(rows)} folds, {minutes:.0f} min of training"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--pixel-size-um", type=float, default=None)
    ap.add_argument("--init", default=None, help="'none' to train from scratch")
    ap.add_argument("--summary-only", action="store_true")
    args = ap.parse_args()
    if not args.summary_only:
        if args.data is None:
            ap.error("--data is needed to train")
        for f in range(args.folds):
            train_fold(args, f)
    print(summary(args.runs, args.folds))


if __name__ == "__main__":
    main()
