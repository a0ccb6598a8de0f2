"""The ResNet-18 feature extractor, trained from scratch at a configurable width.

Its own module because two backbones use it: the classifier's ResNet-18 and UR-Net's
enhancer + ResNet-18 (``uvscope.models.urnet``), which ``classifiers`` also builds.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        out: torch.Tensor = self.relu(y + self.short(x))
        return out


class ResNet18Features(nn.Module):
    """ResNet-18 (2-2-2-2 basic blocks) up to global average pooling: 8 x width features.

    ``small_input`` replaces the 7x7/2 stem and max-pool by a 3x3/1 stem, as is usual for
    64-px crops, so the last stage still sees a 8x8 map rather than 2x2.
    """

    def __init__(self, width: int = 64, small_input: bool = False, in_ch: int = 3) -> None:
        super().__init__()
        if small_input:
            self.stem = nn.Sequential(
                nn.Conv2d(in_ch, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_ch, width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        layers: list[nn.Module] = []
        cin = width
        for i, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = 8 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.pool(self.layers(self.stem(x))).flatten(1)
        return out
