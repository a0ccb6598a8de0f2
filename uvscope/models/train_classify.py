"""Training the two-stage classifier on composite crops (or a lab's own RGB crops).

The paper trained MLP heads on frozen ImageNet features; nothing pretrained can be fetched here,
so backbone and both heads are trained together from scratch. Rare classes are balanced by
sampling (each class drawn equally often) plus random flips/rotations, the paper's augmentation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from uvscope.classes import CLASSES
from uvscope.errors import ModelError
from uvscope.models.arch import CLASS_NAMES, ClassifyConfig
from uvscope.models.augment import augment_crops, batch_dihedral
from uvscope.models.checkpoint import load_checkpoint, save_checkpoint
from uvscope.models.classifiers import TwoStageClassifier, widen
from uvscope.models.deadcheck import DeadCheckpoint, crop_features
from uvscope.models.loop import History, Log, setup
from uvscope.models.metrics import ClassReport, classification_report

#: a pre-class needs at least this many training examples to join the class head; fewer is
#: refused (never dropped in silence): label more, or relabel them
MIN_PRECLASS_EXAMPLES = 10
#: a five-part class with fewer training examples is reported (the head always has the five)
MIN_CLASS_EXAMPLES = 10


def check_class_counts(
    counts: dict[str, int],
    kept: tuple[str, ...],
    optional: tuple[str, ...],
    log: Log = print,
    what: str = "cells",
) -> tuple[str, ...]:
    """The own-data rule every classifier's training follows, never a silent drop: a class of
    ``optional`` with some but fewer than ``MIN_PRECLASS_EXAMPLES`` training examples is
    refused (ModelError naming it and the fix), a class of ``kept`` (always in the head) with
    fewer than ``MIN_CLASS_EXAMPLES`` is reported. Returns the optional classes present."""
    few = [
        f"{c} ({counts.get(c, 0)})"
        for c in optional
        if 0 < counts.get(c, 0) < MIN_PRECLASS_EXAMPLES
    ]
    if few:
        raise ModelError(
            f"too few training examples of {', '.join(few)} ({what} in the training split): a "
            f"class needs at least {MIN_PRECLASS_EXAMPLES} to be learnt; label more {what} of "
            "it, or relabel those (e.g. as unidentified) so the class is left out knowingly"
        )
    for name in kept:
        if counts.get(name, 0) < MIN_CLASS_EXAMPLES:
            log(
                f"warning: only {counts.get(name, 0)} training examples of {name}; the head "
                "keeps the class but will call it poorly: label more"
            )
    return tuple(c for c in optional if counts.get(c, 0))


def fit_head(cfg: ClassifyConfig, label: np.ndarray, log: Log = print) -> ClassifyConfig:
    """``cfg`` with the class head the training labels teach: the five parts, then every
    pre-class they hold. A pre-class with too few examples is refused, a thin five-part class
    reported (``check_class_counts``)."""
    counts = np.bincount(label[label >= 0], minlength=len(CLASS_NAMES))
    pre = check_class_counts(
        {c: int(counts[i]) for i, c in enumerate(CLASS_NAMES)},
        CLASSES,
        tuple(CLASS_NAMES[len(CLASSES) :]),
        log,
    )
    if pre:
        log(f"class head: the five parts and {len(pre)} pre-classes ({', '.join(pre)})")
    return dataclasses.replace(cfg, classes=(*CLASSES, *pre))


@dataclass
class CropArrays:
    """x (N,3,S,S) float32; label: class index or -1 (dead / unknown); dead: 0/1."""

    x: np.ndarray
    label: np.ndarray
    dead: np.ndarray

    def subset(self, idx: np.ndarray) -> CropArrays:
        return CropArrays(self.x[idx], self.label[idx], self.dead[idx])


def balanced_indices(
    label: np.ndarray,
    dead: np.ndarray,
    n: int,
    rng: np.random.Generator,
    class_weights: dict[str, float] | None = None,
) -> np.ndarray:
    """n indices drawn so every group (each class, and dead cells) is equally likely, times
    ``class_weights`` (class name -> factor, e.g. neutrophil 3 to move the neutrophil / band
    boundary towards the neutrophils that outnumber bands on a real slide)."""
    group = np.where(dead > 0, len(CLASS_NAMES), label)
    groups, counts = np.unique(group, return_counts=True)
    w = 1.0 / counts[np.searchsorted(groups, group)]
    for name, factor in (class_weights or {}).items():
        w = np.where((group == CLASS_NAMES.index(name)) & (dead == 0), w * factor, w)
    return rng.choice(len(label), size=n, p=w / w.sum())


@torch.no_grad()
def predict_arrays(
    net: TwoStageClassifier, x: np.ndarray, device: torch.device, bs: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    net.eval()
    pd, pc = [], []
    for i in range(0, len(x), bs):
        d, c = net(torch.from_numpy(x[i : i + bs]).to(device))
        pd.append(torch.softmax(d.float(), 1)[:, 1].cpu().numpy())
        pc.append(widen(torch.softmax(c.float(), 1).cpu().numpy(), net.classes))
    return np.concatenate(pd), np.concatenate(pc)


def _head_index(cfg: ClassifyConfig) -> np.ndarray:
    """Label (CLASS_NAMES index, -1 dead/unknown, last) -> class head output index."""
    out = np.full(len(CLASS_NAMES) + 1, -1, np.int64)
    for i, c in enumerate(cfg.classes):
        out[CLASS_NAMES.index(c)] = i
    return out


def evaluate_arrays(p_dead: np.ndarray, p_class: np.ndarray, data: CropArrays) -> dict[str, Any]:
    """Dead/healthy accuracy (where dead cells exist), the five-part accuracy (cells of the
    five classes, called among every class the head has) and the report on all healthy cells.

    ``p_class`` columns are CLASS_NAMES[:n] (``widen`` puts a head's outputs there)."""
    out: dict[str, Any] = {}
    if data.dead.any():
        out["dead_accuracy"] = float(((p_dead >= 0.5).astype(int) == data.dead).mean())
        out["dead_report"] = classification_report(
            data.dead, (p_dead >= 0.5).astype(int), ("healthy", "dead")
        )
    healthy = (data.dead == 0) & (data.label >= 0)
    pred = p_class.argmax(1)
    rep = classification_report(data.label[healthy], pred[healthy], CLASS_NAMES)
    five = healthy & (data.label < len(CLASSES))
    out["five_part_accuracy"] = (
        float((pred[five] == data.label[five]).mean()) if five.any() else 0.0
    )
    out["five_part_report"] = rep
    if (data.label[healthy] >= len(CLASSES)).any():
        pre = healthy & (data.label >= len(CLASSES))
        out["preclass_accuracy"] = float((pred[pre] == data.label[pre]).mean())
    return out


def _score(m: dict[str, Any]) -> float:
    rep: ClassReport = m["five_part_report"]
    s = 0.5 * (rep.accuracy + rep.macro["recall"])
    if "dead_accuracy" in m:
        s = 0.5 * (s + m["dead_accuracy"])
    return s


def train_classifier(
    train: CropArrays,
    val: CropArrays,
    cfg: ClassifyConfig,
    epochs: int,
    out_dir: Path | None = None,
    device: str = "auto",
    seed: int = 0,
    lr: float = 1e-3,
    batch_size: int = 32,
    samples_per_epoch: int | None = None,
    resume: bool = False,
    log: Log = print,
    augment: str = "dihedral",
    init: Path | None = None,
    class_weights: dict[str, float] | None = None,
) -> tuple[TwoStageClassifier, History, dict[str, Any]]:
    """Train; the best epoch on ``val`` is kept. Returns (best net on CPU, history, card extras).

    ``augment``: "dihedral" (the paper's flips and rotations), "composite" or "rgb" (also
    scale jitter and intensity jitter fitted to composite or colour crops). ``init``: a classify
    .safetensors of the same architecture to fine-tune from. ``class_weights``: sampling
    factors per class name (``balanced_indices``). Without dead cells in ``train``
    the dead/healthy head is not trained, and the card says it is absent (p_dead is then 0).
    """
    dev = setup(seed, device)
    cfg = fit_head(cfg, train.label, log)
    head_of = _head_index(cfg)
    net = TwoStageClassifier(cfg).to(dev)
    identity_mse = _start_weights(net, cfg, init, resume, train.x, seed, log)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    hist = History()
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    ck = out_dir / "checkpoint" if out_dir else None
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    start = 0
    if resume and ck is not None:
        hist, start, best_state = _resume(net, opt, cfg, ck, best_state)
        log(f"resumed at epoch {start}")
    n_per = samples_per_epoch or max(len(train.x), 256)
    has_dead = bool(train.dead.any())
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=max(epochs * (n_per // batch_size), 1)
    )
    for _ in range(start * (n_per // batch_size)):
        sched.step()
    xt = torch.from_numpy(train.x)
    for epoch in range(start, epochs):
        net.train()
        idx = balanced_indices(train.label, train.dead, n_per, rng, class_weights)
        losses = []
        for b in range(n_per // batch_size):
            j = idx[b * batch_size : (b + 1) * batch_size]
            x = _augment(xt[j], gen, augment).to(dev)
            lab = torch.from_numpy(head_of[train.label[j]]).to(dev)
            dead = torch.from_numpy(train.dead[j]).long().to(dev)
            d_logit, c_logit = net(x)
            keep = lab >= 0
            loss = F.cross_entropy(c_logit[keep], lab[keep]) if keep.any() else c_logit.sum() * 0
            if has_dead:
                loss = loss + F.cross_entropy(d_logit, dead)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        pd, pc = predict_arrays(net, val.x, dev)
        m = evaluate_arrays(pd, pc, val)
        score = _score(m)
        rec = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "val_five_part_accuracy": m["five_part_accuracy"],
            "val_score": score,
        }
        if "dead_accuracy" in m:
            rec["val_dead_accuracy"] = m["dead_accuracy"]
        hist.epochs.append(rec)
        if score > hist.best_score:
            hist.best_score, hist.best_epoch = score, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            if out_dir is not None:
                tmp = TwoStageClassifier(cfg)
                tmp.load_state_dict(best_state)
                save_checkpoint(out_dir / "best", {"net": tmp}, [], {"epoch": epoch})
        log(
            f"epoch {epoch + 1}/{epochs} loss {rec['train_loss']:.4f} val five-part "
            f"{m['five_part_accuracy']:.4f}"
            + (f" dead {m['dead_accuracy']:.4f}" if "dead_accuracy" in m else "")
            + f" ({hist.elapsed():.0f} s)"
        )
        if ck is not None:
            save_checkpoint(ck, {"net": net}, [opt], {"epoch": epoch, "history": hist.to_dict()})
    net = TwoStageClassifier(cfg)
    net.load_state_dict(best_state)
    net.eval()
    extras: dict[str, Any] = {"dead_head": "trained" if has_dead else "absent"}
    if identity_mse is not None:
        extras["enhancer_identity_mse"] = identity_mse
    if has_dead:
        extras["checkpoint"] = _fit_checkpoint(net, train, val)
    else:
        log(
            "no dead cells in the training data: the dead/healthy head is untrained and not "
            "used (every cell is reported healthy, p_dead 0); add a dead/ class to train it"
        )
    return net, hist, extras


def _start_weights(
    net: TwoStageClassifier,
    cfg: ClassifyConfig,
    init: Path | None,
    resume: bool,
    x: np.ndarray,
    seed: int,
    log: Log,
) -> float | None:
    """Fine-tune weights, or (UR-Net from scratch) the enhancer pre-trained as an identity
    map on the training crops (paper 002); returns that pre-training's final MSE."""
    if init is not None:
        _load_init(net, cfg, init)
        return None
    if cfg.backbone != "urnet" or resume:
        return None
    from uvscope.models.urnet import pretrain_identity

    mse = pretrain_identity(
        net.backbone.enhancer,  # type: ignore[arg-type]  # nn.Module attributes: Tensor | Module
        torch.from_numpy(x),
        gen=torch.Generator().manual_seed(seed),
    )
    log(f"UR-Net enhancer pre-trained as an identity map: MSE {mse:.5f}")
    return mse


def _resume(
    net: TwoStageClassifier,
    opt: torch.optim.Optimizer,
    cfg: ClassifyConfig,
    ck: Path,
    best_state: dict[str, torch.Tensor],
) -> tuple[History, int, dict[str, torch.Tensor]]:
    """Reload the run's checkpoint and its best epoch so far (beside it, in ``best``)."""
    st = load_checkpoint(ck, {"net": net}, [opt])
    best_path = ck.parent / "best"
    if best_path.with_suffix(".safetensors").exists():
        tmp = TwoStageClassifier(cfg)
        load_checkpoint(best_path, {"net": tmp}, [])
        best_state = tmp.state_dict()
    return History.from_dict(st["history"]), int(st["epoch"]) + 1, best_state


def _augment(x: torch.Tensor, gen: torch.Generator, how: str) -> torch.Tensor:
    if how in ("composite", "rgb"):
        return augment_crops(x, gen, composite=how == "composite")
    return batch_dihedral(x, gen)


def _load_init(net: TwoStageClassifier, cfg: ClassifyConfig, path: Path) -> None:
    """Copy a checked classify weights file into ``net``; another architecture is an error."""
    from uvscope.errors import ModelError
    from uvscope.models.arch import same_network
    from uvscope.models.registry import load_model

    src, src_cfg, _ = load_model(path, "classify")
    if not same_network(src_cfg, cfg):
        raise ModelError(
            f"{path} is a {src_cfg} network but training asks for {cfg}; fine-tune with the "
            "same architecture or train from scratch (--init none)"
        )
    state = src.state_dict()
    own = net.state_dict()
    refit = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if refit:  # the class head's last layer: other classes than the start weights had
        for k in refit:
            state[k] = own[k]
    net.load_state_dict(state)


def _fit_checkpoint(net: TwoStageClassifier, train: CropArrays, val: CropArrays) -> dict[str, Any]:
    """Fit healthy ranges on training cells; enable only if validation dead accuracy holds up."""
    healthy = train.dead == 0
    ckp = DeadCheckpoint.fit(crop_features(train.x[healthy]))
    pd, _ = predict_arrays(net, val.x, torch.device("cpu"))
    before = float(((pd >= 0.5) == val.dead).mean())
    after = float(((ckp.apply(pd, crop_features(val.x)) >= 0.5) == val.dead).mean())
    d = DeadCheckpoint(ckp.low, ckp.high, enabled=after > before).to_dict()
    d["val_dead_accuracy_without"] = before
    d["val_dead_accuracy_with"] = after
    return d
