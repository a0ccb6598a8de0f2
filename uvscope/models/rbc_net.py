"""The red-cell morphology network: a small CNN on one red cell's absorbance crop.

Its input is what the whole-smear analysis holds for every red cell: the 2 x 2-binned optical
density around the cell (0.32 um pixels on the default rig) and the cell's own mask, so a
neighbour in the crop is seen as context, not as part of the cell. Red cells are small (a
sickle cell is at most 16 um long), so a 40-px crop and three convolution stages suffice; the
network is cheap enough to run on every whole cell of every tile on a CPU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uvscope.models.arch import OD_SCALE, RbcConfig


class RbcNet(nn.Module):
    """Conv-BN-ReLU-pool stages, then a small MLP on the flattened map (position matters: the
    crop is centred on the cell)."""

    def __init__(self, cfg: RbcConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 2
        for w in cfg.widths:
            layers += [
                nn.Conv2d(c_in, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c_in = w
        self.input_bin = cfg.input_bin
        self.features = nn.Sequential(*layers)
        self.n_classes = len(cfg.classes)
        side = cfg.crop_size // cfg.input_bin // 2 ** len(cfg.widths)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * side * side, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(cfg.hidden, len(cfg.classes)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_bin > 1:
            x = F.avg_pool2d(x, self.input_bin)
        out: torch.Tensor = self.head(self.features(x))
        return out


def cut_crops(
    od: np.ndarray,
    pieces: np.ndarray,
    ks: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    size: int,
    od_scale: float = OD_SCALE,
) -> np.ndarray:
    """(N, 2, size, size) float32 inputs: OD / ``od_scale`` and the mask of piece ``ks[i]``,
    centred on its centroid (``rows``, ``cols``; pixels); outside the image is zero."""
    n = len(ks)
    out = np.zeros((n, 2, size, size), np.float32)
    h, w = od.shape
    half = size // 2
    for i in range(n):
        r0 = int(round(float(rows[i]))) - half
        c0 = int(round(float(cols[i]))) - half
        a0, b0 = max(r0, 0), max(c0, 0)
        a1, b1 = min(r0 + size, h), min(c0 + size, w)
        if a1 <= a0 or b1 <= b0:
            continue
        out[i, 0, a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = od[a0:a1, b0:b1] / od_scale
        out[i, 1, a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = pieces[a0:a1, b0:b1] == ks[i]
    return out


@torch.inference_mode()
def predict_classes(
    net: nn.Module, x: np.ndarray, batch: int = 512, threads: int = 0
) -> np.ndarray:
    """Softmax probabilities (N, classes) of crops ``x`` on the CPU; ``threads`` > 0 caps
    torch's threads for the call (a tile's few hundred tiny crops run fastest on one thread,
    and a second would compete with the analysis's other work on a small machine)."""
    net.eval()
    if len(x) == 0:
        return np.zeros((0, int(getattr(net, "n_classes", 0))), np.float32)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(min(threads, before))
    try:
        parts = [
            torch.softmax(net(torch.from_numpy(x[i : i + batch])), 1).numpy()
            for i in range(0, len(x), batch)
        ]
    finally:
        torch.set_num_threads(before)
    return np.concatenate(parts)


def choose(p: np.ndarray, logit_bias: tuple[float, ...] = ()) -> np.ndarray:
    """The class index of each row of probabilities ``p``, after ``RbcConfig.logit_bias``."""
    if not logit_bias or len(p) == 0:
        out: np.ndarray = p.argmax(1)
        return out
    biased: np.ndarray = (np.log(np.maximum(p, 1e-12)) + np.asarray(logit_bias)).argmax(1)
    return biased
