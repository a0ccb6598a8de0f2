"""UR-Net (paper 002): a ResUNet enhancer with squeeze-and-excitation attention in front of a
ResNet feature extractor, for stain-free cells.

The enhancer (4 strided-conv downs, 4 deconvolution ups, residual blocks, 1 x 1 convolutions
on the skips, SE channel attention before each deconvolution, LeakyReLU) maps a crop to an
image of the same shape. It is first trained as an identity map (``pretrain_identity``), so
end-to-end training starts from "the ResNet sees the crop" and learns what to enhance. The
paper's ResNet-101 (ImageNet) is uvscope's ResNet-18 trained from scratch: nothing pretrained
may be downloaded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from uvscope.models.resnet import ResNet18Features


class SE(nn.Module):
    """Squeeze-and-excitation: channel weights from globally pooled features."""

    def __init__(self, ch: int, reduction: int = 4) -> None:
        super().__init__()
        hid = max(1, ch // reduction)
        self.fc = nn.Sequential(
            nn.Linear(ch, hid), nn.LeakyReLU(0.1, inplace=True), nn.Linear(hid, ch), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc(x.mean(dim=(2, 3)))
        out: torch.Tensor = x * w[:, :, None, None]
        return out


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(ch),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(ch, ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.body(x), 0.1)


class ResUNetEnhancer(nn.Module):
    """(N,C,H,W) -> (N,C,H,W); H and W multiples of 2**depth."""

    def __init__(self, in_ch: int = 3, width: int = 16, depth: int = 4) -> None:
        super().__init__()
        self.depth = depth
        chans = [width * min(2**i, 8) for i in range(depth + 1)]
        self.stem = nn.Sequential(nn.Conv2d(in_ch, chans[0], 3, padding=1), ResBlock(chans[0]))
        self.downs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1),
                nn.LeakyReLU(0.1, inplace=True),
                ResBlock(chans[i + 1]),
            )
            for i in range(depth)
        )
        self.attn = nn.ModuleList(SE(chans[i + 1]) for i in reversed(range(depth)))
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in reversed(range(depth))
        )
        self.skips = nn.ModuleList(nn.Conv2d(chans[i], chans[i], 1) for i in reversed(range(depth)))
        self.fuse = nn.ModuleList(ResBlock(chans[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chans[0], in_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        skips = [h]
        for down in self.downs:
            h = down(h)
            skips.append(h)
        skips.pop()
        for attn, up, skip, fuse in zip(self.attn, self.ups, self.skips, self.fuse, strict=True):
            h = fuse(up(attn(h)) + skip(skips.pop()))
        out: torch.Tensor = self.head(h)
        return out


class URNetFeatures(nn.Module):
    """Enhancer, then the ResNet-18 features the other heads use."""

    def __init__(self, width: int = 16, small_input: bool = False) -> None:
        super().__init__()
        self.enhancer = ResUNetEnhancer(3, width)
        self.resnet = ResNet18Features(width, small_input)
        self.out_features = self.resnet.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.resnet(self.enhancer(x))
        return out


def pretrain_identity(
    enhancer: ResUNetEnhancer,
    x: torch.Tensor,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 2e-3,
    gen: torch.Generator | None = None,
) -> float:
    """Train the enhancer to reproduce its input (MSE) for ``epochs`` passes over ``x``;
    returns the last batches' mean loss."""
    steps = max(1, epochs * -(-len(x) // batch_size))
    opt = torch.optim.Adam(enhancer.parameters(), lr=lr)
    dev = next(enhancer.parameters()).device
    enhancer.train()
    losses = []
    for _ in range(steps):
        j = torch.randint(0, len(x), (batch_size,), generator=gen)
        xb = x[j].to(dev)
        loss = F.mse_loss(enhancer(xb), xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return float(sum(losses[-10:]) / len(losses[-10:]))
