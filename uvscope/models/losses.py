"""Segmentation loss: binary cross-entropy plus soft Dice (paper 000 section 4.5.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per image and channel, averaged; eps keeps empty masks finite."""
    p = torch.sigmoid(logits.float())
    t = target.float()
    dims = (-2, -1)
    inter = (p * t).sum(dims)
    denom = p.sum(dims) + t.sum(dims)
    return (1.0 - (2.0 * inter + eps) / (denom + eps)).mean()


def bce_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE + Dice over both output channels (cell, nucleus)."""
    bce = F.binary_cross_entropy_with_logits(logits.float(), target.float())
    return bce + soft_dice_loss(logits, target)
