"""The U-Net used for segmentation and as the staining generator (paper 000, Figure 6).

Down: strided 4x4 convolution (stride 2) + batch norm + activation (ReLU for segmentation,
LeakyReLU 0.2 for the generator); up: 4x4 transposed convolution (stride 2) + batch norm + ReLU,
then concatenation with the skip. ``extra_conv`` adds a 3x3 conv per level, which helps the
narrow CPU-sized networks more than it costs.
"""

from __future__ import annotations

import torch
from torch import nn


def _act(kind: str) -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True) if kind == "lrelu" else nn.ReLU(inplace=True)


def _conv3(cin: int, cout: int, act: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), _act(act)
    )


class UNet(nn.Module):
    """Encoder-decoder with skips; input H and W must be divisible by 2**depth."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        base_width: int,
        depth: int,
        down_act: str = "relu",
        extra_conv: bool = True,
    ) -> None:
        super().__init__()
        if depth < 1 or base_width < 1:
            raise ValueError("UNet needs depth >= 1 and base_width >= 1")
        self.depth = depth
        widths = [base_width * 2 ** min(i, 3) for i in range(depth + 1)]
        self.stem = _conv3(in_ch, widths[0], down_act)
        self.downs = nn.ModuleList()
        for i in range(depth):
            layers: list[nn.Module] = [
                nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(widths[i + 1]),
                _act(down_act),
            ]
            if extra_conv:
                layers.append(_conv3(widths[i + 1], widths[i + 1], down_act))
            self.downs.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for i in reversed(range(depth)):
            self.ups.append(
                nn.Sequential(
                    nn.ConvTranspose2d(
                        widths[i + 1], widths[i], 4, stride=2, padding=1, bias=False
                    ),
                    nn.BatchNorm2d(widths[i]),
                    nn.ReLU(inplace=True),
                )
            )
            fuse: list[nn.Module] = [_conv3(2 * widths[i], widths[i], "relu")]
            if not extra_conv:
                fuse = [nn.Conv2d(2 * widths[i], widths[i], 1), nn.ReLU(inplace=True)]
            self.fuse.append(nn.Sequential(*fuse))
        self.head = nn.Conv2d(widths[0], out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2**self.depth
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"UNet input H, W must be multiples of {m}, got {tuple(x.shape[-2:])}")
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up, fuse in zip(self.ups, self.fuse, strict=True):
            y = fuse(torch.cat([up(y), skips.pop()], dim=1))
        out: torch.Tensor = self.head(y)
        return out


class SegmentationNet(nn.Module):
    """One U-Net, two logit maps: channel 0 = cell, channel 1 = nucleus."""

    def __init__(self, base_width: int, depth: int, extra_conv: bool = True) -> None:
        super().__init__()
        self.unet = UNet(1, 2, base_width, depth, "relu", extra_conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.unet(x)
        return out
