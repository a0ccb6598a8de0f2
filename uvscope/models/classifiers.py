"""Cell classifiers: ResNet-18 features + MLP heads (paper 000 4.6), W-Net and WBCsNet-2.

Nothing pretrained can be downloaded, so the ResNet-18 is trained from scratch with a
configurable width (64 = the standard ResNet-18 with 512 features). Every backbone yields a
feature vector; the dead/healthy head is the paper's MLP on it, and the five-part head is the
paper's MLP (ResNet-18) or the backbone paper's own final layer (W-Net, WBCsNet-2).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from uvscope.models.arch import CLASS_NAMES, ClassifyConfig
from uvscope.models.resnet import ResNet18Features
from uvscope.models.urnet import URNetFeatures


class WNetFeatures(nn.Module):
    """W-Net (paper 001): 3 x (conv3x3 + ReLU + maxpool2 + dropout 0.6), flatten, FC 1024.

    Widths 16/32/64 at width=16; no batch norm; Xavier-uniform initialisation as in the paper.
    """

    def __init__(
        self, width: int = 16, crop_size: int = 128, in_ch: int = 3, dropout: float = 0.6
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_ch
        for w in (width, 2 * width, 4 * width):
            layers += [
                nn.Conv2d(cin, w, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
                nn.Dropout(dropout),
            ]
            cin = w
        self.conv = nn.Sequential(*layers)
        flat = cin * (crop_size // 8) ** 2
        self.fc = nn.Sequential(nn.Linear(flat, 1024), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.out_features = 1024
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                assert m.bias is not None
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.conv(x).flatten(1))
        return out


class WBCsNet2Features(nn.Module):
    """WBCsNet-2 (paper 004): residual block of 3 x (conv5x5, BN, ReLU) + add, pool; conv5x5
    4w + pool; conv3x3 8w; FC 512 + dropout. Widths scale with ``width`` (64 in the paper).

    Global average pooling replaces the paper's full flatten before FC 512, which at 64-128 px
    crops would cost tens of millions of parameters.
    """

    def __init__(self, width: int = 64, in_ch: int = 3, dropout: float = 0.5) -> None:
        super().__init__()

        def cbr(cin: int, cout: int, k: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, k, padding=k // 2, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

        self.entry = cbr(in_ch, width, 5)
        self.res = nn.Sequential(cbr(width, width, 5), cbr(width, width, 5), cbr(width, width, 5))
        self.after = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            cbr(width, 4 * width, 5),
            nn.MaxPool2d(2),
            cbr(4 * width, 8 * width, 3),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8 * width, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.out_features = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.entry(x)
        out: torch.Tensor = self.after(y + self.res(y))
        return out


def mlp(n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float) -> nn.Sequential:
    """Fully connected head: ReLU + dropout after every hidden layer, plain linear output."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class TwoStageClassifier(nn.Module):
    """Backbone features -> (dead/healthy logits (N,2), class logits (N, len(cfg.classes))):
    the five parts, then the pre-classes."""

    def __init__(self, cfg: ClassifyConfig) -> None:
        super().__init__()
        n_cls = len(cfg.classes)
        self.backbone: nn.Module
        class_head: nn.Module
        if cfg.backbone == "resnet18":
            self.backbone = ResNet18Features(cfg.width, cfg.small_input)
            class_head = mlp(self.backbone.out_features, cfg.class_hidden, n_cls, cfg.dropout)
        elif cfg.backbone == "wnet":
            self.backbone = WNetFeatures(cfg.width, cfg.crop_size)
            class_head = nn.Linear(1024, n_cls)
        elif cfg.backbone == "wbcsnet2":
            self.backbone = WBCsNet2Features(cfg.width)
            class_head = nn.Linear(512, n_cls)
        elif cfg.backbone == "urnet":
            self.backbone = URNetFeatures(cfg.width, cfg.small_input)
            class_head = mlp(self.backbone.out_features, cfg.class_hidden, n_cls, cfg.dropout)
        else:
            raise ValueError(
                f"unknown backbone {cfg.backbone!r}; use resnet18, wnet, wbcsnet2 or urnet"
            )
        n_feat = int(self.backbone.out_features)
        self.dead_head = mlp(n_feat, cfg.dead_hidden, 2, cfg.dropout)
        self.class_head = class_head
        #: what the class head outputs, in order
        self.classes: tuple[str, ...] = tuple(cfg.classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.backbone(x)
        return self.dead_head(f), self.class_head(f)


def output_names(classes: tuple[str, ...]) -> tuple[str, ...]:
    """The columns ``widen`` gives a head with ``classes``: the head's own when they lead
    CLASS_NAMES (a five-part head keeps its five), else all of CLASS_NAMES."""
    return classes if classes == CLASS_NAMES[: len(classes)] else CLASS_NAMES


def widen(p_class: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Class probabilities in ``output_names(classes)`` columns: a head trained on some of the
    pre-classes gives 0 for those it never learnt, so every label index means one class."""
    names = output_names(classes)
    if names == classes:
        return p_class
    out = np.zeros((len(p_class), len(names)), p_class.dtype)
    out[:, [names.index(c) for c in classes]] = p_class
    return out
