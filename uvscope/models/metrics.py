"""Metrics as the papers report them: Dice, MS-SSIM per RGB channel, per-class tables, k-fold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from pytorch_msssim import ms_ssim


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    """Dice 2|A&B| / (|A|+|B|) of two binary masks; two empty masks score 1.0."""
    p = np.asarray(pred, dtype=bool)
    t = np.asarray(target, dtype=bool)
    if p.shape != t.shape:
        raise ValueError(f"dice needs equal shapes, got {p.shape} and {t.shape}")
    denom = int(p.sum()) + int(t.sum())
    if denom == 0:
        return 1.0
    return 2.0 * int((p & t).sum()) / denom


def mean_dice(
    preds: np.ndarray | list[np.ndarray], targets: np.ndarray | list[np.ndarray]
) -> float:
    """Dice per image (first axis) averaged over images, as the paper averages over patches."""
    return float(np.mean([dice(p, t) for p, t in zip(preds, targets, strict=True)]))


def _msssim_win(min_side: int) -> int:
    """Largest odd Gaussian window (<= 11) that five scales of a min_side image allow.

    pytorch_msssim always downsamples 4 times and needs min_side > (win - 1) * 16, so a
    128-px patch gets win 7 and a 64-px patch win 3; below 33 px MS-SSIM is undefined.
    """
    for win in (11, 9, 7, 5, 3):
        if min_side > (win - 1) * 16:
            return win
    raise ValueError(f"MS-SSIM needs images larger than 32 px on the short side, got {min_side}")


def msssim_rgb(pred: np.ndarray, target: np.ndarray) -> tuple[float, tuple[float, float, float]]:
    """MS-SSIM per RGB channel and their mean, averaged over images (paper 000 section 4.4.3).

    Arrays (N,H,W,3) or (N,3,H,W) with values in 0..1. Returns (mean, (r, g, b)).
    """
    p = torch.as_tensor(np.asarray(pred, dtype=np.float32))
    t = torch.as_tensor(np.asarray(target, dtype=np.float32))
    if p.shape != t.shape or p.ndim != 4:
        raise ValueError(
            f"msssim_rgb needs equal (N,H,W,3) or (N,3,H,W) shapes, got {p.shape}, {t.shape}"
        )
    if p.shape[-1] == 3 and p.shape[1] != 3:
        p, t = p.permute(0, 3, 1, 2), t.permute(0, 3, 1, 2)
    win = _msssim_win(min(p.shape[-2:]))
    per = []
    for c in range(3):
        v = ms_ssim(
            p[:, c : c + 1], t[:, c : c + 1], data_range=1.0, size_average=False, win_size=win
        )
        per.append(float(v.mean()))
    return float(np.mean(per)), (per[0], per[1], per[2])


@dataclass
class ClassReport:
    """Per-class and macro metrics plus the confusion matrix (rows truth, columns prediction)."""

    names: tuple[str, ...]
    confusion: np.ndarray
    accuracy: float
    precision: np.ndarray
    recall: np.ndarray
    specificity: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    macro: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "macro": self.macro,
            "per_class": {
                n: {
                    "precision": float(self.precision[i]),
                    "recall": float(self.recall[i]),
                    "specificity": float(self.specificity[i]),
                    "f1": float(self.f1[i]),
                    "support": int(self.support[i]),
                }
                for i, n in enumerate(self.names)
            },
            "confusion": self.confusion.tolist(),
            "class_order": list(self.names),
        }

    def markdown(self) -> str:
        """A per-class table, macro row and confusion matrix as Markdown."""
        lines = [
            "| class | n | precision | recall | specificity | F1 |",
            "|---|---|---|---|---|---|",
        ]
        for i, n in enumerate(self.names):
            lines.append(
                f"| {n} | {self.support[i]} | {self.precision[i]:.3f} | {self.recall[i]:.3f} | "
                f"{self.specificity[i]:.3f} | {self.f1[i]:.3f} |"
            )
        m = self.macro
        lines.append(
            f"| **macro** ({int(m.get('n_classes', len(self.names)))} classes present) "
            f"| {int(self.support.sum())} | {m['precision']:.3f} | {m['recall']:.3f} | "
            f"{m['specificity']:.3f} | {m['f1']:.3f} |"
        )
        lines += [
            "",
            f"Accuracy {self.accuracy:.4f}. Confusion matrix (rows truth, columns prediction):",
            "",
        ]
        lines.append("| | " + " | ".join(self.names) + " |")
        lines.append("|---" * (len(self.names) + 1) + "|")
        for i, n in enumerate(self.names):
            lines.append(f"| {n} | " + " | ".join(str(int(v)) for v in self.confusion[i]) + " |")
        return "\n".join(lines)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)
    return out


def classification_report(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, names: Sequence[str]
) -> ClassReport:
    """Accuracy, per-class precision / recall (sensitivity) / specificity / F1, macro averages.

    A class with no predictions gets 0 for the undefined ratio. Macro averages are over the
    classes present in ``y_true`` (support > 0): a missed rare class lowers them (as it should),
    but a class the data do not hold is not averaged in as 0. ``macro["n_classes"]`` says how
    many were averaged; ``macro["balanced_accuracy"]`` is the macro recall.
    """
    yt = np.asarray(y_true, dtype=int)
    yp = np.asarray(y_pred, dtype=int)
    k = len(names)
    if yt.shape != yp.shape:
        raise ValueError("y_true and y_pred must have the same length")
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (yt, yp), 1)
    tp = np.diag(cm).astype(float)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    tn = cm.sum() - tp - fp - fn
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    specificity = _safe_div(tn, tn + fp)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    acc = float(tp.sum() / max(cm.sum(), 1))
    present = cm.sum(1) > 0
    if not present.any():
        present = np.ones(k, bool)
    macro = {
        "precision": float(precision[present].mean()),
        "recall": float(recall[present].mean()),
        "specificity": float(specificity[present].mean()),
        "f1": float(f1[present].mean()),
        "balanced_accuracy": float(recall[present].mean()),
        "n_classes": float(present.sum()),
    }
    return ClassReport(tuple(names), cm, acc, precision, recall, specificity, f1, cm.sum(1), macro)


def stratified_kfold(
    labels: Sequence[int] | np.ndarray, k: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train_idx, test_idx) splits with each class spread as evenly as possible over folds.

    A class with fewer members than k simply is absent from some test folds (and is said so by
    the per-fold support), rather than raising as scikit-learn does.
    """
    y = np.asarray(labels, dtype=int)
    if k < 2:
        raise ValueError("stratified_kfold needs k >= 2")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=int)
    offset = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold_of[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    all_idx = np.arange(len(y))
    return [(all_idx[fold_of != f], all_idx[fold_of == f]) for f in range(k)]
