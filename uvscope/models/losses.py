"""Segmentation loss: binary cross-entropy plus soft Dice (paper 000 section 4.5.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _per_channel(v: torch.Tensor, weights: tuple[float, ...] | None) -> torch.Tensor:
    """Mean over images of (N,C) values, then a weighted mean over channels."""
    v = v.mean(0)
    if weights is None:
        return v.mean()
    w = torch.as_tensor(weights, dtype=v.dtype, device=v.device)
    return (v * w).sum() / w.sum()


def soft_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    eps: float = 1.0,
    weights: tuple[float, ...] | None = None,
) -> torch.Tensor:
    """1 - soft Dice per image and channel, averaged (channels weighted by ``weights``)."""
    p = torch.sigmoid(logits.float())
    t = target.float()
    dims = (-2, -1)
    inter = (p * t).sum(dims)
    denom = p.sum(dims) + t.sum(dims)
    return _per_channel(1.0 - (2.0 * inter + eps) / (denom + eps), weights)


def bce_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, weights: tuple[float, ...] | None = None
) -> torch.Tensor:
    """BCE + Dice over the output channels (cell, nucleus); ``weights`` favour a channel."""
    bce = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return _per_channel(bce.mean((-2, -1)), weights) + soft_dice_loss(
        logits, target, weights=weights
    )
