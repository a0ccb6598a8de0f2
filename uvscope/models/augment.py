"""Augmentation: the paper's flips and rotations, plus microscopy-fitted intensity and scale
jitter for own data (slides, stains, cameras and focus differ from lab to lab)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def random_dihedral(rng: np.random.Generator, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """One of the 8 flip/rotation symmetries, the same for every array (last two axes)."""
    k = int(rng.integers(4))
    flip = bool(rng.integers(2))
    out = []
    for a in arrays:
        b = np.rot90(a, k, axes=(-2, -1))
        if flip:
            b = b[..., ::-1]
        out.append(np.ascontiguousarray(b))
    return tuple(out)


def batch_dihedral(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """A random symmetry per sample of an (N,C,H,W) batch (square H = W)."""
    n = x.shape[0]
    ks = torch.randint(0, 4, (n,), generator=gen)
    flips = torch.randint(0, 2, (n,), generator=gen)
    out = torch.empty_like(x)
    for i in range(n):
        y = torch.rot90(x[i], int(ks[i]), dims=(-2, -1))
        out[i] = torch.flip(y, dims=(-1,)) if flips[i] else y
    return out


def scale_jitter(
    x: torch.Tensor, gen: torch.Generator | None, low: float = 0.8, high: float = 1.25
) -> torch.Tensor:
    """Zoom each sample of (N,C,H,W) by a factor in [low, high] about its centre (reflected
    at the borders): cells of one type differ in size between slides and objectives."""
    n = x.shape[0]
    u = torch.rand(n, generator=gen)
    zoom = torch.exp(np.log(low) + u * (np.log(high) - np.log(low)))
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1.0 / zoom
    theta[:, 1, 1] = 1.0 / zoom
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _per_sample(n: int, gen: torch.Generator | None, low: float, high: float) -> torch.Tensor:
    return (low + (high - low) * torch.rand(n, generator=gen)).view(n, 1, 1, 1)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur with one sigma (px) per sample: a crude defocus."""
    out = x.clone()
    for i, s in enumerate(sigma.tolist()):
        if s < 0.3:
            continue
        r = max(1, int(3 * s))
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / s) ** 2)
        k = (k / k.sum()).to(x.device)
        c = x.shape[1]
        xi = F.pad(x[i : i + 1], (r, r, r, r), mode="reflect")
        xi = F.conv2d(xi, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        out[i : i + 1] = F.conv2d(xi, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return out


_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def hue_saturation(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """Rotate each colour crop's hue by up to 20 degrees and scale its saturation
    (0.7-1.3) in YIQ, keeping luma: stains differ in hue from lab to lab, so a classifier
    should read the cell from lightness, saturation and texture, not from one stain's hue."""
    n = x.shape[0]
    theta = (torch.rand(n, generator=gen) * 2 - 1) * 0.35
    sat = 0.7 + 0.6 * torch.rand(n, generator=gen)
    cos, sin = torch.cos(theta) * sat, torch.sin(theta) * sat
    rot = torch.zeros(n, 3, 3)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = torch.linalg.inv(_RGB2YIQ) @ rot @ _RGB2YIQ  # (n, 3, 3)
    return torch.einsum("nij,njhw->nihw", m.to(x.dtype), x).clamp(0, 1)


def photometric(
    x: torch.Tensor, gen: torch.Generator | None, colour: bool = False, strength: float = 1.0
) -> torch.Tensor:
    """Microscopy intensity augmentation of images 0..1 (N,C,H,W), per sample: gamma,
    contrast about the mean, brightness, defocus blur (a third of the samples), Gaussian
    noise and, for colour images, per-channel gains (stain and white-balance differences)."""
    n = x.shape[0]
    s = strength
    x = x.clamp(0, 1) ** _per_sample(n, gen, 1 - 0.35 * s, 1 + 0.5 * s)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * _per_sample(n, gen, 1 - 0.3 * s, 1 + 0.3 * s) + mean
    x = x + _per_sample(n, gen, -0.1 * s, 0.1 * s)
    if colour and x.shape[1] == 3:
        x = hue_saturation(x, gen)
        x = x * (1 + (torch.rand(n, 3, 1, 1, generator=gen) - 0.5) * 0.3 * s)
    sigma = 1.6 * s * torch.rand(n, generator=gen)
    blur = torch.where(torch.rand(n, generator=gen) < 0.33, sigma, 0)
    x = _blur(x, blur)
    noise = _per_sample(n, gen, 0.0, 0.03 * s)
    x = x + noise * torch.randn(x.shape, generator=gen)
    return x.clamp(0, 1)


def augment_segmentation(
    x: torch.Tensor, y: torch.Tensor, gen: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dihedral + scale jitter on image and masks together, then photometric on the image."""
    both = scale_jitter(batch_dihedral(torch.cat([x, y], 1), gen), gen)
    xi, yi = both[:, : x.shape[1]], both[:, x.shape[1] :]
    return photometric(xi, gen), yi


def augment_crops(x: torch.Tensor, gen: torch.Generator | None, composite: bool) -> torch.Tensor:
    """Classifier crops: dihedral, scale jitter, then intensity. Composite crops (R nucleus
    mask, G gray inside the cell, B cell mask) change only their gray channel, inside the cell."""
    if not composite:  # whole crops: the cell's share of the crop differs between sources
        return photometric(scale_jitter(batch_dihedral(x, gen), gen, 0.7, 1.4), gen, colour=True)
    x = scale_jitter(batch_dihedral(x, gen), gen, 0.85, 1.18)
    inside = (x[:, 2:3] > 0.25).to(x.dtype)
    g = photometric(x[:, 1:2], gen) * inside
    return torch.cat([x[:, :1], g, x[:, 2:]], 1)
