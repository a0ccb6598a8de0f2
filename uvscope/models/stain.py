"""Virtual staining cGAN in Lab colour space (paper 000 section 4.4).

The generator sees the preprocessed 260 nm image as the L channel and predicts a and b; the
discriminator judges (L, a, b) stacks. The paper keeps the 260 nm image itself as L, which fits
ground truth whose lightness is that image's; where the ground truth's lightness is another
function of it (a Giemsa-like render, a pseudocolour with other weights), a monotone lightness
curve fitted on the training pairs maps the input to L (``fit_lightness_curve``). Tensors are
normalised: L in 0..1 (L/100), a and b in -1..1 (a/AB_SCALE), so the generator ends in tanh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import kornia.color as kc
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uvscope.models.unet import UNet

AB_SCALE = 110.0
"""a, b are divided by this for the network; sRGB gamut stays within about +-110."""


class StainGenerator(nn.Module):
    """U-Net (LeakyReLU 0.2 down, ReLU up): L (N,1,H,W) 0..1 -> normalised Lab (N,3,H,W).

    As in the paper, channel 0 comes from the input and the network predicts a, b (tanh):
    the input itself, or with ``l_curve`` the input through that lightness curve (knots at
    evenly spaced levels 0..1). With ``predict_l`` the network also predicts L (sigmoid).
    """

    l_curve: torch.Tensor  # a buffer, registered in __init__

    def __init__(
        self,
        base_width: int,
        depth: int,
        extra_conv: bool = True,
        predict_l: bool = False,
        l_curve: tuple[float, ...] = (),
    ) -> None:
        super().__init__()
        self.predict_l = predict_l
        self.unet = UNet(1, 3 if predict_l else 2, base_width, depth, "lrelu", extra_conv)
        if l_curve and len(l_curve) < 2:
            raise ValueError(f"a lightness curve needs at least 2 knots, got {len(l_curve)}")
        # not persistent: the curve travels in the model card, the weights file holds weights
        self.register_buffer(
            "l_curve", torch.tensor(l_curve, dtype=torch.float32), persistent=False
        )

    @classmethod
    def from_config(cls, cfg: Any) -> StainGenerator:
        return cls(cfg.base_width, cfg.depth, cfg.extra_conv, cfg.predict_l, tuple(cfg.l_curve))

    def lightness(self, l01: torch.Tensor) -> torch.Tensor:
        """The output's L for an input image: the input, or the input through ``l_curve``."""
        return l01 if self.l_curve.numel() == 0 else apply_curve(l01, self.l_curve)

    def forward(self, l01: torch.Tensor) -> torch.Tensor:
        y = self.unet(l01)
        if self.predict_l:
            return torch.cat([torch.sigmoid(y[:, :1]), torch.tanh(y[:, 1:])], dim=1)
        return torch.cat([self.lightness(l01), torch.tanh(y)], dim=1)


def apply_curve(x: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear curve through ``knots`` at evenly spaced levels 0..1 (x clamped)."""
    k = knots.to(device=x.device, dtype=x.dtype)
    pos = x.clamp(0, 1) * (len(k) - 1)
    i0 = pos.floor().clamp(max=len(k) - 2).long()
    frac = pos - i0.to(x.dtype)
    return k[i0] * (1 - frac) + k[i0 + 1] * frac


def fit_lightness_curve(
    gray: Sequence[np.ndarray], rgb: Sequence[np.ndarray], knots: int = 33
) -> tuple[float, ...]:
    """Monotone lightness curve: mean normalised L of the target at each input level.

    ``gray`` are preprocessed inputs (H,W) 0..1 and ``rgb`` their targets (H,W,3) 0..1. Pixels
    are assigned to the nearest knot; a knot with no pixels takes its neighbours' line, and a
    running maximum keeps the curve non-decreasing (darker input never gets lighter output).
    """
    if knots < 2:
        raise ValueError(f"a lightness curve needs at least 2 knots, got {knots}")
    sums, counts = np.zeros(knots), np.zeros(knots)
    for g, c in zip(gray, rgb, strict=True):
        lab = rgb_to_lab_norm(torch.from_numpy(np.ascontiguousarray(np.moveaxis(c, -1, 0)))[None])
        idx = np.rint(np.clip(g, 0, 1) * (knots - 1)).astype(int).ravel()
        sums += np.bincount(idx, lab[0, 0].numpy().ravel(), knots)
        counts += np.bincount(idx, minlength=knots)
    if counts.sum() == 0:
        raise ValueError("no pixels to fit a lightness curve on")
    levels = np.linspace(0, 1, knots)
    have = counts > 0
    curve = np.interp(levels, levels[have], sums[have] / counts[have])
    return tuple(round(float(v), 5) for v in np.maximum.accumulate(np.clip(curve, 0, 1)))


class StainDiscriminator(nn.Module):
    """Strided 4x4 convs (BN + LeakyReLU 0.2) then a fully connected layer.

    Returns logits; the sigmoid of the paper is applied inside the loss
    (``binary_cross_entropy_with_logits``), which is the same function computed stably.
    """

    def __init__(self, width: int, n_layers: int = 4, in_ch: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_ch
        for i in range(n_layers):
            cout = width * 2 ** min(i, 3)
            layers.append(nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(cin * 4, 1)

    def forward(self, lab: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.pool(self.features(lab)).flatten(1)).squeeze(1)
        return out


def rgb_to_lab_norm(rgb: torch.Tensor) -> torch.Tensor:
    """RGB (N,3,H,W) 0..1 -> normalised Lab (L/100, a/AB_SCALE, b/AB_SCALE)."""
    lab = kc.rgb_to_lab(rgb.clamp(0, 1))
    return torch.cat([lab[:, :1] / 100.0, lab[:, 1:] / AB_SCALE], dim=1)


def lab_norm_to_rgb(l01: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Normalised L (N,1,H,W) and a,b (N,2,H,W) -> RGB 0..1 (clipped)."""
    lab = torch.cat([l01 * 100.0, ab * AB_SCALE], dim=1).float()
    return kc.lab_to_rgb(lab, clip=True)


def postprocess(
    rgb: torch.Tensor, rgb_offset: float = 0.02, value_offset: float = 0.07
) -> torch.Tensor:
    """The paper's white balance: +0.02 on each RGB channel, then +0.07 on HSV value (4.4.3)."""
    x = (rgb + rgb_offset).clamp(0, 1)
    hsv = kc.rgb_to_hsv(x)
    hsv = torch.cat([hsv[:, :2], (hsv[:, 2:] + value_offset).clamp(0, 1)], dim=1)
    return kc.hsv_to_rgb(hsv).clamp(0, 1)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (anisotropic TV)."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    return dh + dw


def generator_loss(
    d_fake_logits: torch.Tensor,
    fake_ab: torch.Tensor,
    real_ab: torch.Tensor,
    l1_weight: float = 100.0,
    tv_weight: float = 1.0,
) -> torch.Tensor:
    """Adversarial (non-saturating) + weighted L1 + total variation on the predicted a,b."""
    adv = F.binary_cross_entropy_with_logits(d_fake_logits, torch.ones_like(d_fake_logits))
    return adv + l1_weight * F.l1_loss(fake_ab, real_ab) + tv_weight * total_variation(fake_ab)


def discriminator_loss(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor) -> torch.Tensor:
    """Real stacks -> 1 (smoothed to 0.9), generated -> 0."""
    real = F.binary_cross_entropy_with_logits(d_real_logits, torch.full_like(d_real_logits, 0.9))
    fake = F.binary_cross_entropy_with_logits(d_fake_logits, torch.zeros_like(d_fake_logits))
    return 0.5 * (real + fake)
