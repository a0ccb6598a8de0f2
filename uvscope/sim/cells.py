"""Blood-smear objects (RBCs, platelets, debris, dust) and how each is drawn as a Patch.

White blood cells live in ``wbc.py``. Positions are global stage micrometres; every object is
drawn on its own full bounding box so a cell cut by a raster-tile border is identical on
both sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from uvscope.sim.optics import OpticsParams
from uvscope.sim.shapes import Patch, dome, grid, halo, normalised, rotate, sdf_ellipse

# Evans-Fung biconcave thickness profile D(x) = sqrt(1 - x^2) (C0 + C2 x^2 + C4 x^4), um
_EF_C0, _EF_C2, _EF_C4 = 0.81, 7.83, -4.39


@dataclass(frozen=True)
class RBC:
    """A red blood cell: biconcave disc (rim + central pallor) or a sickle cell."""

    cx: float
    cy: float
    a: float  # semi-axes (um)
    b: float
    angle: float
    hb_pg: float
    pallor: float  # scales the central thickness (1 = Evans-Fung)
    sickle: bool = False
    bend: float = 0.0  # sickle curvature (1/um)

    @property
    def radius_um(self) -> float:
        return max(self.a, self.b) + 1.0

    def patch(self, ps: float, optics: OpticsParams) -> Patch:
        g = grid(self.cx, self.cy, self.radius_um, ps)
        xr, yr = rotate(g.x, g.y, self.angle)
        if self.sickle:
            u = xr / np.float32(self.a)
            yb = yr - np.float32(self.bend) * xr * xr
            width = np.float32(self.b) * np.clip(1.0 - 0.65 * u * u, 0.15, 1.0)
            rho2 = u * u + (yb / width) ** 2
            thick = np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0))
            d = (np.sqrt(rho2) - 1.0) * width
        else:
            rho2 = (xr / np.float32(self.a)) ** 2 + (yr / np.float32(self.b)) ** 2
            inner = np.clip(1.0 - rho2, 0.0, 1.0)
            c0 = np.float32(_EF_C0 * self.pallor)
            thick = np.sqrt(inner) * (c0 + _EF_C2 * rho2 + _EF_C4 * rho2 * rho2)
            thick = np.clip(thick, 0.0, None)
            d = (np.sqrt(rho2) - 1.0) * np.float32(math.sqrt(self.a * self.b))
        return Patch(
            g.r0,
            g.c0,
            g.shape,
            hb=normalised(thick, self.hb_pg, ps),
            scat=halo(d, optics.halo_od_rbc, optics.halo_width_um),
            rbc=rho2 < 1.0,
        )


@dataclass(frozen=True)
class Platelet:
    """Anucleate fragment with a granular (slightly RNA-rich) centre."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float
    protein_pg: float
    rna_pg: float

    @property
    def radius_um(self) -> float:
        return max(self.a, self.b) + 0.8

    def patch(self, ps: float, optics: OpticsParams) -> Patch:
        g = grid(self.cx, self.cy, self.radius_um, ps)
        d = sdf_ellipse(g.x, g.y, 0.0, 0.0, self.a, self.b, self.angle)
        body = dome(d, 0.4)
        core = dome(d + np.float32(0.45 * min(self.a, self.b)), 0.3)
        return Patch(
            g.r0,
            g.c0,
            g.shape,
            prot=normalised(body, self.protein_pg, ps),
            na=normalised(core, self.rna_pg, ps),
            scat=halo(d, optics.halo_od_platelet, optics.halo_width_um),
        )


@dataclass(frozen=True)
class Debris:
    """Cell fragments or opaque dust: a few overlapping blobs."""

    cx: float
    cy: float
    blobs: tuple[tuple[float, float, float, float, float], ...]  # (dx, dy, a, b, angle)
    protein_pg: float
    na_pg: float
    opaque_od: float  # broadband OD of dust (0 for biological debris)

    @property
    def radius_um(self) -> float:
        return max(math.hypot(dx, dy) + max(a, b) for dx, dy, a, b, _ in self.blobs) + 0.8

    def patch(self, ps: float, optics: OpticsParams) -> Patch:
        g = grid(self.cx, self.cy, self.radius_um, ps)
        d = None
        for dx, dy, a, b, ang in self.blobs:
            di = sdf_ellipse(g.x, g.y, dx, dy, a, b, ang)
            d = di if d is None else np.minimum(d, di)
        assert d is not None
        body = dome(d, 0.5)
        scat = halo(d, optics.halo_od_platelet, optics.halo_width_um)
        if self.opaque_od > 0:
            scat = scat + np.float32(self.opaque_od) * dome(d, 0.3)
        return Patch(
            g.r0,
            g.c0,
            g.shape,
            prot=normalised(body, self.protein_pg, ps) if self.protein_pg > 0 else None,
            na=normalised(body, self.na_pg, ps) if self.na_pg > 0 else None,
            scat=scat,
        )


def make_platelets(rng: np.random.Generator, cx: float, cy: float, clump: int) -> list[Platelet]:
    """One platelet, or a clump of ``clump`` platelets around (cx, cy)."""
    out = []
    for i in range(max(clump, 1)):
        dx, dy = (0.0, 0.0) if i == 0 else rng.normal(0, 1.6, 2)
        d = rng.uniform(1.5, 3.0)
        ecc = rng.uniform(0.75, 1.0)
        out.append(
            Platelet(
                cx + dx,
                cy + dy,
                d / 2,
                d / 2 * ecc,
                rng.uniform(0, np.pi),
                protein_pg=2.2 * (d / 2.2) ** 2,
                rna_pg=0.05 * (d / 2.2) ** 2,
            )
        )
    return out


def make_debris(rng: np.random.Generator, cx: float, cy: float, dust: bool) -> Debris:
    n = int(rng.integers(1, 4))
    size = rng.uniform(0.5, 2.0) if dust else rng.uniform(0.4, 1.5)
    blobs = tuple(
        (
            float(rng.normal(0, size * 0.6)),
            float(rng.normal(0, size * 0.6)),
            float(size * rng.uniform(0.5, 1.0)),
            float(size * rng.uniform(0.3, 0.8)),
            float(rng.uniform(0, np.pi)),
        )
        for _ in range(n)
    )
    if dust:
        return Debris(cx, cy, blobs, 0.0, 0.0, float(rng.uniform(0.3, 1.2)))
    area = sum(np.pi * a * b for _, _, a, b, _ in blobs)
    return Debris(cx, cy, blobs, float(0.6 * area), float(rng.uniform(0.0, 0.06) * area), 0.0)
