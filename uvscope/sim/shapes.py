"""Signed-distance shapes and pixel patches: the drawing kit of the virtual slide.

Shapes are signed distance fields in micrometres (negative inside), so one description of a
cell gives its mass profile, its mask and its edge halo at any pixel size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Patch:
    """Mass maps (pg/um^2), scattering OD and masks of one object on the global pixel grid."""

    r0: int
    c0: int
    shape: tuple[int, int]
    na: np.ndarray | None = None
    prot: np.ndarray | None = None
    hb: np.ndarray | None = None
    scat: np.ndarray | None = None
    cell: np.ndarray | None = None
    nuc: np.ndarray | None = None
    rbc: np.ndarray | None = None
    plt: np.ndarray | None = None
    #: the object's id: a WBC's in ``cell``/``nuc``, an RBC's in ``rbc``, a platelet's in ``plt``
    label: int = 0


@dataclass(frozen=True)
class Grid:
    """Pixel-centre coordinates (um, relative to an object centre) of a patch."""

    r0: int
    c0: int
    x: np.ndarray  # (1, w)
    y: np.ndarray  # (h, 1)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y.shape[0], self.x.shape[1])


def grid(cx_um: float, cy_um: float, radius_um: float, ps_um: float) -> Grid:
    """Pixels whose centre lies within ``radius_um`` (a square) of the centre; pixel (r, c)
    of the global grid sits at stage (c * ps, r * ps) um."""
    c0 = math.floor((cx_um - radius_um) / ps_um)
    c1 = math.ceil((cx_um + radius_um) / ps_um) + 1
    r0 = math.floor((cy_um - radius_um) / ps_um)
    r1 = math.ceil((cy_um + radius_um) / ps_um) + 1
    x = (np.arange(c0, c1, dtype=np.float32) * ps_um - cx_um)[None, :]
    y = (np.arange(r0, r1, dtype=np.float32) * ps_um - cy_um)[:, None]
    return Grid(r0, c0, x, y)


def rotate(x: np.ndarray, y: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in a frame rotated by ``angle`` (object frame from stage offsets)."""
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    return x * c + y * s, y * c - x * s


def sdf_ellipse(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, a: float, b: float, angle: float = 0.0
) -> np.ndarray:
    """Approximate signed distance to an ellipse (exact for circles)."""
    xr, yr = rotate(x - np.float32(cx), y - np.float32(cy), angle)
    rho = np.sqrt((xr / np.float32(a)) ** 2 + (yr / np.float32(b)) ** 2)
    return (rho - 1.0) * np.float32(min(a, b))


def sdf_capsule(
    x: np.ndarray, y: np.ndarray, p: tuple[float, float], q: tuple[float, float], r: float
) -> np.ndarray:
    """Signed distance to a segment p-q thickened to radius r (a chromatin strand)."""
    px, py = p
    dx, dy = q[0] - px, q[1] - py
    ll = dx * dx + dy * dy or 1e-9
    t = np.clip(((x - px) * dx + (y - py) * dy) / np.float32(ll), 0.0, 1.0)
    ex, ey = x - px - t * dx, y - py - t * dy
    return np.sqrt(ex * ex + ey * ey) - np.float32(r)


def dome(d: np.ndarray, depth_um: float) -> np.ndarray:
    """Thickness profile: 0 at the edge, rising to 1 over ``depth_um`` inside."""
    return np.sqrt(np.clip(-d / np.float32(depth_um), 0.0, 1.0))


def halo(d: np.ndarray, od: float, width_um: float) -> np.ndarray:
    """Scattering OD concentrated on an edge (the bright/dark rims of unstained cells)."""
    return np.float32(od) * np.exp(-((d / np.float32(width_um)) ** 2))


def normalised(profile: np.ndarray, mass_pg: float, ps_um: float) -> np.ndarray:
    """Scale ``profile`` so it integrates to ``mass_pg`` over pixels of ``ps_um``."""
    s = float(profile.sum())
    if s <= 0:
        return np.zeros_like(profile, dtype=np.float32)
    return (profile * np.float32(mass_pg / (s * ps_um * ps_um))).astype(np.float32, copy=False)


def splat(
    shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Bilinear deposit of point weights onto a (h, w) array (granules before blurring)."""
    h, w = shape
    out = np.zeros((h + 1) * (w + 1), np.float32)
    r0 = np.floor(rows).astype(np.int64)
    c0 = np.floor(cols).astype(np.int64)
    fr = (rows - r0).astype(np.float32)
    fc = (cols - c0).astype(np.float32)
    wt = np.ones(len(rows), np.float32) if weights is None else weights.astype(np.float32)
    ok = (r0 >= 0) & (c0 >= 0) & (r0 < h) & (c0 < w)
    r0, c0, fr, fc, wt = r0[ok], c0[ok], fr[ok], fc[ok], wt[ok]
    stride = w + 1
    for dr, dc, f in (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    ):
        np.add.at(out, (r0 + dr) * stride + c0 + dc, wt * f)
    return out.reshape(h + 1, w + 1)[:h, :w]
