"""Bits every training loop shares: seeding, threads, device, progress lines, timing."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from uvscope.models.predict import resolve_device

Log = Callable[[str], None]


def setup(seed: int, device: str, threads: int | None = 2) -> torch.device:
    """Seed everything, cap CPU threads (shared machines), pick the device.

    The cap only lowers the thread count: OMP_NUM_THREADS=1 (or torch.set_num_threads(1) by
    the caller) wins, which is much faster than 2 threads on 2 cores shared with other jobs.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(max(1, min(threads, torch.get_num_threads())))
    return resolve_device(device)


@dataclass
class History:
    """Per-epoch records kept in the checkpoint and the model card."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -float("inf")
    started: float = field(default_factory=time.time)
    seconds_before_resume: float = 0.0

    def elapsed(self) -> float:
        return self.seconds_before_resume + time.time() - self.started

    def to_dict(self) -> dict[str, object]:
        return {
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "seconds": self.elapsed(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        h = cls()
        h.epochs = list(d.get("epochs", []))
        h.best_epoch = int(d.get("best_epoch", -1))
        h.best_score = float(d.get("best_score", -float("inf")))
        h.seconds_before_resume = float(d.get("seconds", 0.0))
        return h
