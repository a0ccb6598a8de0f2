"""UR-Net against the two-stage ResNet-18 and W-Net: same splits, same epochs, from scratch.

    python benchmarks/bench_backbones.py --runs /tmp/bb --epochs 10 \
        --sim /tmp/sim --zheng ../shared/data/zheng-wbc-d1 --bccd ../shared/data/bccd-wbc-crops
    python benchmarks/bench_backbones.py --runs /tmp/bb --summary-only

Three test sets, each scored for every backbone on the identical split:
- ``sim``: a `python -m uvscope.models.simgen` export; `uvscope train classify` on its training
  donors, model choice on its validation donors, scored on its held-out test donors.
- ``zheng``: own images with masks; `uvscope train classify --classifier-input composite
  --init none --fold f` for every fold (the analysis's composite crop), scored on fold f.
- ``bccd``: a crop folder; stratified k-fold here (validation from the training folds, never
  the test fold), colour crops with the CLI's normalisation and augmentation.
Confusion matrices are pooled over the folds. Runs already in --runs are kept. Run it under
`nice -n 10` with OMP_NUM_THREADS=1 on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BACKBONES = ("resnet18", "wnet", "urnet")


def _train_cli(out: Path, args: list[str], epochs: int, backbone: str) -> None:
    if (out / "classify.json").exists():
        return
    cmd = [sys.executable, "-m", "uvscope", "train", "classify", *args]
    cmd += ["--out", str(out), "--epochs", str(epochs), "--backbone", backbone, "--device", "cpu"]
    log = out.with_suffix(".log")
    with open(log, "w") as fh:
        subprocess.run(
            cmd,
            check=True,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )


def _card(out: Path) -> dict:
    return json.loads((out / "classify.json").read_text())


def run_sim(a: argparse.Namespace, b: str) -> dict:
    out = a.runs / f"sim-{b}"
    _train_cli(out, ["--data", str(a.sim)], a.epochs, b)
    card = _card(out)
    fp = card["metrics"]["test_heldout_donors"]["five_part"]
    return {"confusion": fp["confusion"], "seconds": card["training_seconds"], "folds": 1}


def run_zheng(a: argparse.Namespace, b: str) -> dict:
    cm, secs = None, 0.0
    for f in range(a.max_folds or a.folds):
        out = a.runs / f"zheng-{b}-f{f}"
        args = ["--data", str(a.zheng), "--classifier-input", "composite", "--init", "none"]
        args += ["--folds", str(a.folds), "--fold", str(f)]
        if a.zheng_px:
            args += ["--pixel-size-um", str(a.zheng_px)]
        _train_cli(out, args, a.epochs, b)
        card = _card(out)
        c = np.asarray(card["metrics"]["test_fold"]["five_part"]["confusion"])
        cm = c if cm is None else cm + c
        secs += card["training_seconds"]
    return {
        "confusion": cm.tolist(),
        "seconds": secs,
        "folds": f"{a.max_folds or a.folds} of {a.folds}",
    }


def run_bccd(a: argparse.Namespace, b: str) -> dict:
    import dataclasses

    import torch

    from uvscope.models.arch import preset
    from uvscope.models.metrics import stratified_kfold
    from uvscope.models.train_classify import CropArrays, predict_arrays, train_classifier
    from uvscope.models.userdata import load_crop_folder, normalise_rgb

    torch.set_num_threads(1)
    cfg = dataclasses.replace(preset("classify", "small"), backbone=b)
    crops = load_crop_folder(a.bccd, cfg.crop_size)
    data = CropArrays(normalise_rgb(crops.x), crops.label, crops.dead)
    k = len(np.unique(data.label))
    cm = np.zeros((5, 5), int)
    secs = 0.0
    for f, (tr, te) in enumerate(stratified_kfold(data.label, a.folds, seed=0)):
        if f >= (a.max_folds or a.folds):
            break
        done = a.runs / f"bccd-{b}-f{f}.json"
        if done.exists():
            prev = json.loads(done.read_text())
            cm += np.asarray(prev["confusion"])
            secs += prev["seconds"]
            continue
        t0 = time.time()
        fold_cm = np.zeros((5, 5), int)
        inner_tr, inner_va = stratified_kfold(data.label[tr], 5, seed=f)[0]
        net, _, _ = train_classifier(
            data.subset(tr[inner_tr]),
            data.subset(tr[inner_va]),
            cfg,
            a.epochs,
            device="cpu",
            seed=f,
            log=lambda s: None,
            augment="rgb",
        )
        _, pc = predict_arrays(net, data.x[te], torch.device("cpu"))
        np.add.at(fold_cm, (data.label[te], pc.argmax(1)), 1)
        cm += fold_cm
        secs += time.time() - t0
        done.write_text(json.dumps({"confusion": fold_cm.tolist(), "seconds": time.time() - t0}))
        print(f"bccd {b} fold {f + 1}/{a.folds} ({time.time() - t0:.0f} s)", flush=True)
    n = a.max_folds or a.folds
    return {"confusion": cm.tolist(), "seconds": secs, "folds": f"{n} of {a.folds}", "k": k}


def scores(cm: np.ndarray) -> tuple[float, float, float]:
    """(accuracy, balanced accuracy, macro F1) over the classes present."""
    from uvscope.models.metrics import classification_report

    yt = np.repeat(np.arange(5), cm.sum(1))
    yp = np.concatenate([np.repeat(np.arange(5), row) for row in cm])
    rep = classification_report(yt, yp, ("n", "e", "b", "l", "m"))
    return rep.accuracy, rep.macro["balanced_accuracy"], rep.macro["f1"]


def majority(cm: np.ndarray) -> tuple[float, float, float]:
    """The majority-class baseline on the same test cells."""
    n = cm.sum(1)
    base = np.zeros_like(cm)
    base[:, int(np.argmax(n))] = n
    return scores(base)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--max-folds", type=int, default=None, help="score only the first N test folds of --folds"
    )
    ap.add_argument("--sim", type=Path, default=None)
    ap.add_argument("--zheng", type=Path, default=None)
    ap.add_argument("--zheng-px", type=float, default=0.16)
    ap.add_argument("--bccd", type=Path, default=None)
    ap.add_argument("--summary-only", action="store_true")
    a = ap.parse_args()
    a.runs.mkdir(parents=True, exist_ok=True)
    sets = {"sim": (a.sim, run_sim), "zheng": (a.zheng, run_zheng), "bccd": (a.bccd, run_bccd)}
    rows = []
    for name, (path, fn) in sets.items():
        res_file = a.runs / f"{name}-results.json"
        results = json.loads(res_file.read_text()) if res_file.exists() else {}
        if not a.summary_only and path is not None:
            for b in BACKBONES:
                if b not in results:
                    results[b] = fn(a, b)
                    res_file.write_text(json.dumps(results, indent=1))
        for b in BACKBONES:
            if b not in results:
                continue
            cm = np.asarray(results[b]["confusion"])
            acc, bal, f1 = scores(cm)
            macc, mbal, mf1 = majority(cm)
            rows.append(
                f"| {name} | {b} | {results[b]['folds']} | {int(cm.sum())} | {acc:.3f} | "
                f"{bal:.3f} | {f1:.3f} | {macc:.3f} / {mbal:.3f} / {mf1:.3f} | "
                f"{results[b]['seconds'] / 60:.1f} |"
            )
    print(
        "| test set | backbone | folds | n test | accuracy | balanced accuracy | macro F1 | "
        "majority: acc / bal / F1 | training min |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n{a.epochs} epochs each, from scratch, one torch thread")


if __name__ == "__main__":
    main()
