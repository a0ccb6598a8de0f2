"""Blood-smear objects (RBCs, platelets, debris, dust) and how each is drawn as a Patch.

White blood cells live in ``wbc.py``. Positions are global stage micrometres; every object is
drawn on its own full bounding box so a cell cut by a raster-tile border is identical on
both sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from uvscope.sim.optics import OpticsParams
from uvscope.sim.shapes import Patch, dome, grid, halo, normalised, rotate, sdf_ellipse

# Evans-Fung biconcave thickness profile D(x) = sqrt(1 - x^2) (C0 + C2 x^2 + C4 x^4), um
_EF_C0, _EF_C2, _EF_C4 = 0.81, 7.83, -4.39


#: a schistocyte's fragment shapes (its ``fragment`` field)
FRAGMENTS: tuple[str, ...] = ("helmet", "triangle", "crescent")
#: target cell: height (um) and relative radius of the central haemoglobin bump, and how much
#: of the Evans-Fung central thickness is left in the pallor ring around it
_TARGET_BUMP_UM, _TARGET_BUMP_RHO, _TARGET_RING = 2.0, 0.27, 0.3
#: a schistocyte's dome rises over this fraction of its parent radius (no pallor)
_FRAGMENT_DOME = 0.5


@dataclass(frozen=True)
class RBC:
    """A red blood cell of one morphology class (``uvscope.classes.RBC_CLASSES``).

    Shapes are drawn in the cell's frame (rotated by ``angle``) as a thickness profile that
    the haemoglobin mass ``hb_pg`` is spread over, so the integral of the ``hb`` map over the
    cell is exactly ``hb_pg`` whatever the shape: normal (Evans-Fung biconcave disc, central
    pallor scaled by ``pallor``), sickle (a bent, tapered crescent), spherocyte (small sphere
    cap, no pallor: the same haemoglobin on less area is denser), elliptocyte (an elongated
    biconcave disc), schistocyte (a fragment of a disc of radius ``a``: helmet, triangle or
    crescent, ``cut`` sets the cut) and target (a central haemoglobin bump in the pallor).
    """

    cx: float
    cy: float
    a: float  # semi-axes (um); a schistocyte's parent disc radius
    b: float
    angle: float
    hb_pg: float
    pallor: float  # scales the central thickness (1 = Evans-Fung)
    morph: str = "normal"
    bend: float = 0.0  # sickle curvature (1/um)
    #: global id, 1.. (0 = none in the ``rbc_id`` map)
    id: int = 0
    #: overlaps another RBC by more than ``OVERLAP_MIN_FRACTION`` of the smaller one's area
    overlapped: bool = False
    fragment: str = ""  # schistocyte shape, one of FRAGMENTS
    cut: float = 0.0  # schistocyte cut position (fraction of ``a``)

    @property
    def sickle(self) -> bool:
        return self.morph == "sickle"

    @property
    def radius_um(self) -> float:
        return max(self.a, self.b) + 1.0

    @property
    def reach_um(self) -> float:
        """No point of the outline lies farther than this from the centre."""
        if self.morph == "sickle":
            return math.hypot(self.a, self.b + abs(self.bend) * self.a * self.a)
        return max(self.a, self.b)

    @cached_property
    def area_um2(self) -> float:
        """Area of the cell's outline (analytic; a fragment's on a 0.05 um grid)."""
        if self.morph == "sickle":  # the bend is a shear: area of the tapered ellipse
            return math.pi * self.a * self.b * (1.0 - 0.65 / 4)
        if self.morph != "schistocyte":
            return math.pi * self.a * self.b
        r = max(self.a, self.b)
        step = min(0.05, r / 80)
        x = np.arange(-r, r + step, step, dtype=np.float32)
        inside, _, _ = self._frame(x[None, :], x[:, None])
        return float(inside.sum()) * step * step

    @property
    def diameter_um(self) -> float:
        """Equivalent-area diameter (what a segmentation's area gives)."""
        return 2.0 * math.sqrt(self.area_um2 / math.pi)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which stage points (um) lie inside the cell's outline."""
        xr, yr = rotate(x - np.float32(self.cx), y - np.float32(self.cy), self.angle)
        return self._frame(xr, yr)[0]

    def _frame(self, xr: np.ndarray, yr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(inside, relative thickness, signed distance um) in the cell frame."""
        if self.morph == "sickle":
            u = xr / np.float32(self.a)
            yb = yr - np.float32(self.bend) * xr * xr
            width = np.float32(self.b) * np.clip(1.0 - 0.65 * u * u, 0.15, 1.0)
            rho2 = u * u + (yb / width) ** 2
            thick = np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0))
            return rho2 < 1.0, thick, (np.sqrt(rho2) - 1.0) * width
        if self.morph == "schistocyte":
            d = self._fragment_sdf(xr, yr)
            return d < 0, dome(d, _FRAGMENT_DOME * self.a), d
        rho2 = (xr / np.float32(self.a)) ** 2 + (yr / np.float32(self.b)) ** 2
        inner = np.clip(1.0 - rho2, 0.0, 1.0)
        d = (np.sqrt(rho2) - 1.0) * np.float32(math.sqrt(self.a * self.b))
        if self.morph == "spherocyte":
            return rho2 < 1.0, np.sqrt(inner), d
        pallor = _TARGET_RING if self.morph == "target" else self.pallor
        c0 = np.float32(_EF_C0 * pallor)
        thick = np.sqrt(inner) * (c0 + _EF_C2 * rho2 + _EF_C4 * rho2 * rho2)
        if self.morph == "target":
            bump = np.exp(-rho2 / np.float32(_TARGET_BUMP_RHO**2))
            thick = thick + np.float32(_TARGET_BUMP_UM) * bump * (rho2 < 1.0)
        return rho2 < 1.0, np.clip(thick, 0.0, None), d

    def _fragment_sdf(self, xr: np.ndarray, yr: np.ndarray) -> np.ndarray:
        """Signed distance (um) of a fragment of the parent disc of radius ``a``."""
        r = np.float32(self.a)
        disc = np.sqrt(xr * xr + yr * yr) - r
        if self.fragment == "helmet":  # one straight cut
            cut = xr - np.float32(self.cut) * r
        elif self.fragment == "triangle":  # three cuts, inradius cut * a
            sides = [
                xr * np.float32(math.cos(t)) + yr * np.float32(math.sin(t))
                for t in (0.0, 2 * math.pi / 3, 4 * math.pi / 3)
            ]
            cut = np.maximum.reduce(sides) - np.float32(self.cut) * r
        else:  # crescent: the disc less a disc of radius 0.9 a shifted by cut * a
            bite = np.sqrt((xr - np.float32(self.cut) * r) ** 2 + yr * yr) - np.float32(0.9) * r
            cut = -bite
        out: np.ndarray = np.maximum(disc, cut)
        return out

    def patch(self, ps: float, optics: OpticsParams) -> Patch:
        g = grid(self.cx, self.cy, self.radius_um, ps)
        xr, yr = rotate(g.x, g.y, self.angle)
        inside, thick, d = self._frame(xr, yr)
        return Patch(
            g.r0,
            g.c0,
            g.shape,
            hb=normalised(thick, self.hb_pg, ps),
            scat=halo(d, optics.halo_od_rbc, optics.halo_width_um),
            rbc=inside,
            label=self.id,
        )


def fragment_area_fraction(fragment: str, cut: float) -> float:
    """Area of a schistocyte fragment over its parent disc's (haemoglobin scales with it)."""
    probe = RBC(0.0, 0.0, 4.0, 4.0, 0.0, 1.0, 1.0, "schistocyte", fragment=fragment, cut=cut)
    return probe.area_um2 / (math.pi * 16.0)


def rbc_overlap(p: RBC, q: RBC, min_fraction: float) -> bool:
    """Whether the two cells' outlines share more than ``min_fraction`` of the smaller one's
    area (sampled on a grid over it; symmetric in p and q)."""
    small, big = sorted((p, q), key=lambda c: (c.area_um2, c.id))
    d = math.hypot(p.cx - q.cx, p.cy - q.cy)
    if float(lens_area(np.array(p.reach_um), np.array(q.reach_um), np.array(d))) <= (
        min_fraction * small.area_um2
    ):  # even the discs that hold the two outlines share too little
        return False
    r = small.reach_um
    n = 21 if small.morph in ("normal", "spherocyte", "target") else 41  # thin shapes: finer
    g = np.linspace(-r, r, n, dtype=np.float32)
    xs = np.broadcast_to(np.float32(small.cx) + g[None, :], (n, n))
    ys = np.broadcast_to(np.float32(small.cy) + g[:, None], (n, n))
    inside = small.contains(xs, ys)
    n = int(inside.sum())
    if n == 0:
        return False
    shared = int(big.contains(xs[inside], ys[inside]).sum())
    return shared > min_fraction * n


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
    #: global id, 1.. (0 = none in the ``plt_id`` map)
    id: int = 0
    #: -1 for a single platelet, else the id of its clump (that of the clump's first platelet)
    clump_id: int = -1

    @property
    def radius_um(self) -> float:
        return max(self.a, self.b) + 0.8

    @property
    def diameter_um(self) -> float:
        return 2.0 * math.sqrt(self.a * self.b)

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
            plt=d < 0,
            label=self.id,
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


def make_platelets(
    rng: np.random.Generator, cx: float, cy: float, clump: int, first_id: int = 0
) -> list[Platelet]:
    """One platelet, or a clump of ``clump`` platelets around (cx, cy), with ids from
    ``first_id`` (a clump's id is its first platelet's)."""
    out = []
    clump_id = first_id if clump > 1 else -1
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
                id=first_id + i if first_id else 0,
                clump_id=clump_id,
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


def lens_area(r1: np.ndarray, r2: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Area shared by discs of radii r1, r2 whose centres are d apart (elementwise)."""
    r1, r2, d = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (r1, r2, d)))
    dd = np.maximum(d, 1e-9)
    c1 = np.clip((dd * dd + r1 * r1 - r2 * r2) / (2 * dd * r1), -1.0, 1.0)
    c2 = np.clip((dd * dd + r2 * r2 - r1 * r1) / (2 * dd * r2), -1.0, 1.0)
    k = (-dd + r1 + r2) * (dd + r1 - r2) * (dd - r1 + r2) * (dd + r1 + r2)
    part = r1 * r1 * np.arccos(c1) + r2 * r2 * np.arccos(c2) - 0.5 * np.sqrt(np.maximum(k, 0))
    inner = np.pi * np.minimum(r1, r2) ** 2
    out: np.ndarray = np.where(d >= r1 + r2, 0.0, np.where(d <= np.abs(r1 - r2), inner, part))
    return out
