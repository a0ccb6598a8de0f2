"""Training the red-cell morphology network on crops per class (simulated or a lab's own).

The own-data rules are the white-cell classifier's (``train_classify.check_class_counts``):
a poikilocyte class with some but too few examples is refused, a thin ``normal`` class is
reported, and a class with none is left out of the head with a message saying so. Classes are
drawn equally often, with the eight flips and rotations (a red cell has no orientation).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from uvscope.classes import RBC_CLASSES
from uvscope.errors import ModelError
from uvscope.models.arch import RbcConfig
from uvscope.models.augment import batch_dihedral
from uvscope.models.loop import Log, setup
from uvscope.models.metrics import classification_report
from uvscope.models.rbc_crops import RbcCrops, load_rbc_crops
from uvscope.models.rbc_net import RbcNet, choose, predict_classes
from uvscope.models.registry import machine_description, save_model
from uvscope.models.train_classify import check_class_counts


def split_groups(data: RbcCrops, folds: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: whole groups (slides) held out, every ``folds``-th group
    from ``fold``; without groups, every ``folds``-th crop (a warning names the risk)."""
    keys = sorted(set(data.group))
    if len(keys) >= 2:
        held = {g for i, g in enumerate(keys) if i % folds == fold % folds}
        if len(held) == len(keys):
            held = {keys[0]}
        val = np.array([g in held for g in data.group])
    else:
        val = np.arange(len(data.label)) % folds == fold % folds
    return np.nonzero(~val)[0], np.nonzero(val)[0]


def fit_classes(data: RbcCrops, log: Log) -> tuple[str, ...]:
    """The head's classes: ``normal`` always, then each poikilocyte the training crops hold
    enough of (too few is refused; none is reported, never dropped in silence)."""
    counts = data.counts()
    present = check_class_counts(counts, RBC_CLASSES[:1], RBC_CLASSES[1:], log, "red cells")
    absent = [c for c in RBC_CLASSES[1:] if c not in present]
    if absent:
        log(
            f"warning: no training examples of {', '.join(absent)}: the network will not call "
            "them (add crops of them to learn them)"
        )
    return (RBC_CLASSES[0], *present)


#: weight of the log-prevalence added to the log-probabilities (0: none, 1: the full Bayes
#: correction for the balanced draws); chosen on held-out slide seed 341, confirmed on 342
#: (benchmarks/bench_rbc_morph.py, docs/whole-smear.md)
PRIOR_WEIGHT = 0.5


def prevalence_bias(
    counts: dict[str, int], classes: tuple[str, ...], normal_share: float
) -> tuple[float, ...]:
    """PRIOR_WEIGHT x log(prevalence) of ``classes`` in the training crops, the normal cells
    counted as ``count / normal_share`` (the ones left out when the crops were chosen)."""
    n = np.array([counts.get(c, 0) for c in classes], np.float64)
    if "normal" in classes:
        n[classes.index("normal")] /= normal_share
    p = np.maximum(n, 1.0) / np.maximum(n, 1.0).sum()
    return tuple(round(float(v), 5) for v in PRIOR_WEIGHT * np.log(p))


def _balanced(label: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    _, inv, counts = np.unique(label, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    return rng.choice(len(label), size=n, p=w / w.sum())


def _evaluate(
    net: RbcNet, data: RbcCrops, classes: tuple[str, ...], bias: tuple[float, ...] = ()
) -> dict[str, Any]:
    head = np.array([classes.index(c) if c in classes else -1 for c in RBC_CLASSES])
    y = head[data.label]
    pred = choose(predict_classes(net, data.x), bias)
    rep = classification_report(y[y >= 0], pred[y >= 0], classes)
    return {
        "accuracy": rep.accuracy,
        "balanced_accuracy": float(rep.macro["recall"]),
        "per_class_recall": {
            c: round(float(rep.recall[i]), 4) for i, c in enumerate(classes) if rep.support[i]
        },
        "confusion": rep.confusion.tolist(),
        "n": int((y >= 0).sum()),
    }


def train_rbc_net(
    train: RbcCrops,
    val: RbcCrops,
    cfg: RbcConfig,
    epochs: int,
    seed: int = 0,
    lr: float = 3e-3,
    batch_size: int = 64,
    samples_per_epoch: int | None = None,
    log: Log = print,
) -> tuple[RbcNet, RbcConfig, dict[str, Any]]:
    """Train; the epoch with the best balanced accuracy on ``val`` is kept. Returns the net
    (CPU, eval mode), its config (with the head's classes) and the card's figures."""
    dev = setup(seed, "cpu")
    classes = fit_classes(train, log)
    cfg = dataclasses.replace(cfg, classes=classes)
    head = torch.tensor([classes.index(c) if c in classes else -1 for c in RBC_CLASSES])
    keep = head[torch.from_numpy(train.label)] >= 0
    xs, ys = torch.from_numpy(train.x)[keep], head[torch.from_numpy(train.label)][keep]
    net = RbcNet(cfg).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    n_per = samples_per_epoch or max(len(ys), 512)
    steps = max(n_per // batch_size, 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, -1, {})
    history = []
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        idx = torch.from_numpy(_balanced(ys.numpy(), steps * batch_size, rng))
        losses = []
        for b in range(steps):
            j = idx[b * batch_size : (b + 1) * batch_size]
            loss = F.cross_entropy(net(batch_dihedral(xs[j], gen)), ys[j])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        m = _evaluate(net, val, classes)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), **m})
        log(
            f"epoch {epoch + 1}/{epochs} loss {np.mean(losses):.4f} val accuracy "
            f"{m['accuracy']:.4f} balanced {m['balanced_accuracy']:.4f} ({time.time() - t0:.0f} s)"
        )
        if m["balanced_accuracy"] > best[0]:
            state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            best = (m["balanced_accuracy"], epoch, state)
    net.load_state_dict(best[2])
    net.eval()
    if train.normal_share is not None:
        bias = prevalence_bias(train.counts(), classes, train.normal_share)
        cfg = dataclasses.replace(cfg, logit_bias=bias)
    card = {
        "best_epoch": best[1],
        "validation": _evaluate(net, val, classes, cfg.logit_bias),
        "validation_without_prior": _evaluate(net, val, classes),
        "history": history,
        "training_seconds": round(time.time() - t0, 1),
    }
    return net, cfg, card


def run_rbc_training(
    data_dir: Path,
    out: Path,
    epochs: int,
    seed: int,
    folds: int = 5,
    fold: int = 0,
    log: Log = print,
    command: str = "",
    crops: Callable[[int, float], RbcCrops] | None = None,
) -> dict[str, Any]:
    """``uvscope train rbc``: check and load ``data_dir`` (or ``crops(size, pixel_um)``: the
    reviewed red cells of analysed scans, from the analysis room), train, write
    rbc.safetensors and its card into ``out`` (nothing is written when the data are
    refused)."""
    cfg = RbcConfig()
    if crops is not None:
        data = crops(cfg.crop_size, cfg.pixel_size_um)
    else:
        data = load_rbc_crops(data_dir, cfg.crop_size, cfg.pixel_size_um)
    tr, va = split_groups(data, folds, fold)
    if len(va) == 0 or len(tr) == 0:
        raise ModelError(f"{data_dir}: too few crops or groups to hold out a validation split")
    train, val = data.subset(tr), data.subset(va)
    log(
        f"{len(tr)} training crops, {len(va)} validation crops "
        f"({len(set(val.group)) or 'no'} held-out groups); training counts {train.counts()}"
    )
    net, cfg, extras = train_rbc_net(train, val, cfg, epochs, seed, log=log)
    card = {
        "input": "od-crop",
        "data": {
            "path": str(data_dir),
            "class_counts_train": train.counts(),
            "class_counts_validation": val.counts(),
            "validation_groups": sorted(set(val.group)),
        },
        "seed": seed,
        "epochs": epochs,
        "command": command,
        "machine": machine_description(),
        **extras,
    }
    full = save_model(net, "rbc", cfg, Path(out) / "rbc", card)
    log(f"wrote {Path(out) / 'rbc.safetensors'} (validation {full['validation']})")
    return full
