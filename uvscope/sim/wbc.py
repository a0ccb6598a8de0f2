"""White blood cells: the five kinds, the pre-classes and dead cells, designed in micrometres and
drawn as Patches.

A cell's design (outline, nuclear primitives, granules, vacuoles, chromatin texture seed) is
drawn once from the cell's random stream, so the same cell looks the same in every field of
view and at every pixel size. Each kind is described by what it contains (DNA and nuclear
protein, cytoplasmic protein and RNA, haemoglobin in a nucleated red cell), so its deep-UV
appearance follows from the absorbance of those masses; the designs of the pre-classes
(immature granulocytes, blasts, variant lymphocytes, plasma cells, nucleated red cells, smudge
cells) follow the five kinds below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from uvscope.sim.donors import DonorProfile
from uvscope.sim.optics import OpticsParams
from uvscope.sim.shapes import (
    Patch,
    dome,
    grid,
    halo,
    normalised,
    rotate,
    sdf_capsule,
    sdf_ellipse,
    splat,
)

# nuclear primitives in the cell frame (um): ("e", cx, cy, a, b, angle), ("c", p, q, r) strand,
# ("cut", cx, cy, r) indentation (kidney / horseshoe)
Prim = tuple[Any, ...]


@dataclass(frozen=True)
class WBC:
    id: int
    kind: str
    dead: str | None  # None, "pyknotic", "karyorrhexis"
    cx: float  # stage um
    cy: float
    radius: float  # um
    angle: float
    outline: tuple[float, float, float, float]  # a2, p2, a3, p3 harmonics of the border
    nucleus: tuple[Prim, ...]
    granules: np.ndarray  # (n, 2) cell-frame um
    granule_radius: float
    vacuoles: tuple[tuple[float, float, float], ...]
    texture_seed: int
    texture_amp: float
    texture_scale_um: float
    dna_pg: float
    nuc_protein_pg: float
    cyto_protein: float  # pg/um^2
    cyto_rna: float  # pg/um^2
    large: bool = False
    #: nucleoli (cell-frame um centre x, y, radius) and the RNA of each (pg): blasts, promyelocytes
    nucleoli: tuple[tuple[float, float, float], ...] = ()
    nucleolus_rna_pg: float = 0.0
    #: a paler cytoplasm zone beside the nucleus (x, y, radius um): the plasma cell's Golgi hof
    clear_zone: tuple[float, float, float] | None = None
    #: haemoglobin in the cytoplasm (pg): a nucleated red cell
    cyto_hb_pg: float = 0.0

    @property
    def diameter_um(self) -> float:
        return 2.0 * self.radius

    @property
    def bbox_radius_um(self) -> float:
        a2, _, a3, _ = self.outline
        return self.radius * (1.0 + abs(a2) + abs(a3)) + 1.2

    # ------------------------------------------------------------------ geometry
    def _sdf_cell(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        a2, p2, a3, p3 = self.outline
        r = np.sqrt(x * x + y * y)
        th = np.arctan2(y, x)
        rr = np.float32(self.radius) * (1.0 + a2 * np.cos(2 * th + p2) + a3 * np.cos(3 * th + p3))
        d: np.ndarray = r - rr
        return d

    def _sdf_nucleus(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        d = None
        cuts = []
        for p in self.nucleus:
            if p[0] == "e":
                di = sdf_ellipse(x, y, *p[1:])
            elif p[0] == "c":
                di = sdf_capsule(x, y, p[1], p[2], p[3])
            else:
                cuts.append(p)
                continue
            d = di if d is None else np.minimum(d, di)
        assert d is not None
        for _, cx, cy, r in cuts:
            d = np.maximum(d, -sdf_ellipse(x, y, cx, cy, r, r))
        return d

    def _texture(self, xr: np.ndarray, yr: np.ndarray) -> np.ndarray:
        """Chromatin/cytoplasm texture on a fixed 0.2 um grid, sampled at the pixels."""
        step = 0.2
        n = int(math.ceil(2 * self.bbox_radius_um / step)) + 2
        rng = np.random.default_rng(self.texture_seed)
        noise = rng.standard_normal((n, n)).astype(np.float32)
        noise = ndimage.gaussian_filter(noise, self.texture_scale_um / step, mode="wrap")
        noise /= noise.std() + 1e-6
        half = (n - 1) / 2
        coords = np.stack(np.broadcast_arrays(yr / step + half, xr / step + half))
        tex: np.ndarray = ndimage.map_coordinates(noise, coords, order=1, mode="nearest")
        return tex

    # ------------------------------------------------------------------ drawing
    def patch(self, ps: float, optics: OpticsParams) -> Patch:
        g = grid(self.cx, self.cy, self.bbox_radius_um, ps)
        x, y = np.broadcast_arrays(g.x, g.y)
        xr, yr = rotate(x, y, self.angle)
        d_cell = self._sdf_cell(xr, yr)
        d_nuc = np.maximum(self._sdf_nucleus(xr, yr), d_cell + np.float32(0.25))
        tex = self._texture(xr, yr)

        nuc_t = dome(d_nuc, 0.45)
        chrom = nuc_t * np.clip(1.0 + np.float32(self.texture_amp) * tex, 0.05, None)
        na = normalised(chrom, self.dna_pg, ps)
        prot = normalised(nuc_t, self.nuc_protein_pg, ps)

        cyto_t = dome(d_cell, 1.2)
        cyto_tex = np.clip(1.0 + 0.12 * tex[::-1, ::-1], 0.5, None)
        cyto = cyto_t * np.float32(self.cyto_protein) * cyto_tex
        scat = halo(d_cell, optics.halo_od_wbc, optics.halo_width_um)
        scat += halo(d_nuc, 0.4 * optics.halo_od_wbc, optics.halo_width_um)
        for vx, vy, vr in self.vacuoles:
            dv = sdf_ellipse(xr, yr, vx, vy, vr, vr)
            cyto *= 1.0 - 0.8 * dome(dv, 0.25)
            scat += halo(dv, 0.5 * optics.halo_od_wbc, optics.halo_width_um)
        rna = cyto_t * (1.0 - nuc_t) * np.float32(self.cyto_rna)
        if self.clear_zone is not None:
            zx, zy, zr = self.clear_zone
            pale = 1.0 - 0.75 * dome(sdf_ellipse(xr, yr, zx, zy, zr, zr), 0.8)
            rna *= pale
            cyto *= pale
        for nx, ny, nr in self.nucleoli:  # RNA-rich, dense spots inside the nucleus
            na = na + normalised(
                dome(sdf_ellipse(xr, yr, nx, ny, nr, nr), nr), self.nucleolus_rna_pg, ps
            )
        hb = None
        if self.cyto_hb_pg > 0:  # haemoglobin fills the cytoplasm around the nucleus
            hb = normalised(cyto_t * (1.0 - nuc_t), self.cyto_hb_pg, ps)

        if len(self.granules):
            gx, gy = self.granules[:, 0], self.granules[:, 1]
            c, s = math.cos(self.angle), math.sin(self.angle)
            ox, oy = gx * c - gy * s, gx * s + gy * c  # cell frame -> stage offsets
            rows = (self.cy + oy) / ps - g.r0
            cols = (self.cx + ox) / ps - g.c0
            sig = max(self.granule_radius / ps / 1.3, 0.5)
            gmap = ndimage.gaussian_filter(splat(g.shape, rows, cols), sig, truncate=3.0)
            gmap *= np.float32(2 * np.pi * sig * sig)  # peak about 1 per granule
            gmap = np.minimum(gmap, 1.6) * (d_cell < 0)
            if self.kind == "eosinophil":
                cyto = cyto + np.float32(2.2) * gmap
                scat += np.float32(optics.granule_scatter_eosinophil) * gmap
            elif self.kind == "basophil":
                cyto = cyto + np.float32(1.2) * gmap
                na = na + np.float32(0.12) * gmap
                scat += np.float32(optics.granule_scatter_basophil) * gmap
            else:  # neutrophil specific granules, azurophilic granules of large lymphocytes
                cyto = cyto * (1.0 + 0.35 * gmap)
                scat += np.float32(optics.granule_scatter_neutrophil) * gmap
        return Patch(
            g.r0,
            g.c0,
            g.shape,
            na=(na + rna).astype(np.float32, copy=False),
            prot=(prot + cyto).astype(np.float32, copy=False),
            hb=hb,
            scat=scat.astype(np.float32, copy=False),
            cell=d_cell < 0,
            nuc=d_nuc < 0,
            label=self.id,
        )


# ---------------------------------------------------------------------- design


def _lobe_chain(
    rng: np.random.Generator, n: int, r_lobe: float, step: float, strand: float
) -> list[Prim]:
    """n lobes along a curving path (C or S shape), neighbours joined by chromatin strands."""
    heading = rng.uniform(0, 2 * np.pi)
    turn = rng.uniform(0.35, 0.9) * rng.choice([-1, 1])
    pts = [(0.0, 0.0)]
    for _ in range(n - 1):
        heading += turn + rng.normal(0, 0.3)
        if rng.uniform() < 0.2:
            turn = -turn  # S-shaped segment
        ln = step * rng.uniform(0.8, 1.2)
        pts.append((pts[-1][0] + ln * math.cos(heading), pts[-1][1] + ln * math.sin(heading)))
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    centres = [(x - mx, y - my) for x, y in pts]
    prims: list[Prim] = []
    for cx, cy in centres:
        a = r_lobe * rng.uniform(0.85, 1.15)
        b = a * rng.uniform(0.65, 0.9)
        prims.append(("e", cx, cy, a, b, float(rng.uniform(0, np.pi))))
    for p, q in zip(centres, centres[1:], strict=False):
        prims.append(("c", p, q, strand * rng.uniform(0.7, 1.3)))
    return prims


def _disc_points(rng: np.random.Generator, n: int, radius: float) -> np.ndarray:
    r = radius * np.sqrt(rng.uniform(0, 1, n))
    t = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1).astype(np.float32)


def _granules(
    rng: np.random.Generator, n: int, radius: float, wbc_tmp: WBC, keep_over_nucleus: float
) -> np.ndarray:
    pts = _disc_points(rng, n, radius)
    if keep_over_nucleus < 1.0 and len(pts):
        d = wbc_tmp._sdf_nucleus(pts[:, 0], pts[:, 1])
        keep = (d > 0) | (rng.uniform(0, 1, len(pts)) < keep_over_nucleus)
        pts = pts[keep]
    return pts


@dataclass
class _Design:
    """What ``make_wbc`` draws for one kind (or dead state) before the WBC is assembled."""

    outline: tuple[float, float, float, float]
    cyto_p: float
    d: float = 0.0
    nucleus: list[Prim] = field(default_factory=list)
    gran_r: float = 0.0
    n_gran: int = 0
    keep_nuc: float = 1.0
    vac: list[tuple[float, float, float]] = field(default_factory=list)
    tex_amp: float = 0.3
    tex_scale: float = 0.6
    rna: float = 0.004
    large: bool = False
    nucleoli: list[tuple[float, float, float]] = field(default_factory=list)
    nucleolus_rna_pg: float = 0.0
    clear_zone: tuple[float, float, float] | None = None
    hb_pg: float = 0.0


def _pyknotic(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = np.clip(rng.normal(8.0, 1.0), 6.0, 10.0) * sc
    rn = rng.uniform(2.0, 2.6) * sc
    off = rng.normal(0, 0.25 * (s.d / 2 - rn), 2)
    s.nucleus = [("e", off[0], off[1], rn, rn * rng.uniform(0.85, 1.0), 0.0)]
    s.tex_amp, s.cyto_p = 0.08, s.cyto_p * 1.5


def _karyorrhexis(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = np.clip(rng.normal(6.5, 1.0), 4.0, 8.0) * sc
    s.nucleus = []
    for _ in range(int(rng.integers(3, 6))):
        p = _disc_points(rng, 1, 0.55 * s.d / 2)[0]
        r = rng.uniform(0.6, 1.1) * sc
        s.nucleus.append(("e", float(p[0]), float(p[1]), r, r * rng.uniform(0.8, 1.0), 0.0))
    s.tex_amp, s.cyto_p = 0.05, s.cyto_p * 1.4
    outline = s.outline
    s.outline = (outline[0] * 2, outline[1], outline[2] * 2, outline[3])


def _neutrophil(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(12.0, 0.9), 10.0, 14.0) * sc
    n = int(rng.choice([2, 3, 4, 5], p=[0.08, 0.45, 0.35, 0.12]))
    s.nucleus = _lobe_chain(rng, n, 2.0 * sc, 3.4 * sc, 0.24)
    s.gran_r, s.n_gran, s.keep_nuc = 0.2, int(0.9 * d * d), 0.5
    s.tex_amp, s.tex_scale = 0.3, 0.5


def _eosinophil(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(13.2, 0.8), 12.0, 15.0) * sc
    n = 2 if rng.uniform() < 0.88 else 3
    s.nucleus = _lobe_chain(rng, n, 2.1 * sc, 4.2 * sc, 0.3)
    s.gran_r, s.n_gran, s.keep_nuc = rng.uniform(0.38, 0.52), int(0.75 * d * d), 0.25
    s.tex_amp, s.tex_scale = 0.3, 0.6
    s.cyto_p *= 1.1


def _basophil(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(11.5, 0.9), 10.0, 14.0) * sc
    s.nucleus = _lobe_chain(rng, 2, 2.1 * sc, 3.0 * sc, 0.6)
    s.gran_r, s.n_gran, s.keep_nuc = rng.uniform(0.4, 0.6), int(0.45 * d * d), 1.0
    s.tex_amp = 0.2


def _lymphocyte(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.large = large = rng.uniform() < donor.large_lymphocyte_fraction
    if large:
        s.d = d = np.clip(rng.normal(12.0, 1.0), 10.0, 14.0) * sc
        rn = d / 2 * rng.uniform(0.6, 0.72)
        s.rna, s.tex_amp, s.tex_scale = 0.02, 0.3, 0.55
        if rng.uniform() < 0.3:  # large granular lymphocyte
            s.gran_r, s.n_gran, s.keep_nuc = 0.25, int(rng.integers(5, 20)), 0.1
    else:
        s.d = d = np.clip(rng.normal(8.3, 0.7), 7.0, 10.0) * sc
        rn = d / 2 * rng.uniform(0.8, 0.9)
        s.rna, s.tex_amp, s.tex_scale = 0.035, 0.35, 0.7
    off = rng.normal(0, 0.2 * (d / 2 - rn) + 0.05, 2)
    s.nucleus = [("e", off[0], off[1], rn, rn * rng.uniform(0.85, 1.0), rng.uniform(0, np.pi))]
    if rng.uniform() < (0.35 if large else 0.12):  # slight indentation
        t = rng.uniform(0, 2 * np.pi)
        s.nucleus.append(
            (
                "cut",
                off[0] + 1.25 * rn * math.cos(t),
                off[1] + 1.25 * rn * math.sin(t),
                rn * rng.uniform(0.35, 0.55),
            )
        )


def _monocyte(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(15.5, 2.0), 12.0, 20.0) * sc
    a = d / 2 * rng.uniform(0.58, 0.72)
    b = a * rng.uniform(0.72, 0.92)
    ang = rng.uniform(0, np.pi)
    off = rng.normal(0, 0.08 * d, 2)
    s.nucleus = [("e", off[0], off[1], a, b, ang)]
    depth = rng.uniform(0.0, 1.0)  # 0: oval/folded, 1: horseshoe
    if depth > 0.15:
        t = ang + np.pi / 2 + rng.normal(0, 0.2)
        dist = b * (1.5 - 0.7 * depth)
        s.nucleus.append(
            (
                "cut",
                off[0] + dist * math.cos(t),
                off[1] + dist * math.sin(t),
                b * (0.45 + 0.4 * depth),
            )
        )
    s.tex_amp, s.tex_scale = 0.5, 0.35  # lacy chromatin
    s.rna = 0.012
    s.gran_r, s.n_gran, s.keep_nuc = 0.15, int(0.4 * d * d), 0.3  # ground-glass cytoplasm
    for _ in range(int(rng.integers(0, 7))):
        p = _disc_points(rng, 1, 0.8 * d / 2)[0]
        s.vac.append((float(p[0]), float(p[1]), float(rng.uniform(0.3, 0.8))))


# ------------------------------------------------------------------ pre-classes (issue 23)
# Sizes and shapes after the smear-morphology tables in simulator-physics.md (labce, TTU, ASH
# image bank); masses are estimates: an RNA-rich (basophilic) cytoplasm carries 0.03-0.06 pg/um^2
# of RNA where a mature neutrophil's carries 0.004, a nucleolus about 1 pg of RNA.


def _arc_nucleus(
    rng: np.random.Generator, radius: float, span: float, thick: float, n: int = 6
) -> list[Prim]:
    """An unsegmented curved rod (C or U), as capsules along an arc centred on the cell."""
    t0 = rng.uniform(0, 2 * np.pi)
    ts = t0 + np.linspace(-span / 2, span / 2, n)
    pts = [(radius * math.cos(t), radius * math.sin(t)) for t in ts]
    cx = sum(p[0] for p in pts) / n
    cy = sum(p[1] for p in pts) / n
    pts = [(x - cx, y - cy) for x, y in pts]
    return [("c", p, q, thick * rng.uniform(0.85, 1.1)) for p, q in zip(pts, pts[1:], strict=False)]


def _eccentric_round(
    rng: np.random.Generator, d: float, rn: float, shift: float
) -> tuple[float, float, Prim]:
    """A round-oval nucleus pushed ``shift`` of the free space towards one side of the cell."""
    t = rng.uniform(0, 2 * np.pi)
    off = shift * (d / 2 - rn)
    ox, oy = off * math.cos(t), off * math.sin(t)
    return ox, oy, ("e", ox, oy, rn, rn * rng.uniform(0.8, 0.95), rng.uniform(0, np.pi))


def _nucleoli(
    rng: np.random.Generator, ox: float, oy: float, rn: float, n: int, r_um: tuple[float, float]
) -> list[tuple[float, float, float]]:
    return [
        (float(ox + p[0]), float(oy + p[1]), float(rng.uniform(*r_um)))
        for p in _disc_points(rng, n, 0.5 * rn)
    ]


def _band(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(12.0, 0.9), 10.0, 14.0) * sc
    s.nucleus = _arc_nucleus(rng, 2.6 * sc, rng.uniform(2.2, 3.6), 1.3 * sc)
    s.gran_r, s.n_gran, s.keep_nuc = 0.2, int(0.9 * d * d), 0.5
    s.tex_amp, s.tex_scale = 0.3, 0.5


def _metamyelocyte(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(12.5, 1.0), 10.0, 15.0) * sc
    a = d / 2 * rng.uniform(0.5, 0.6)
    b = a * rng.uniform(0.7, 0.85)
    ang = rng.uniform(0, np.pi)
    s.nucleus = [("e", 0.0, 0.0, a, b, ang)]
    t = ang + np.pi / 2
    s.nucleus.append(("cut", 1.25 * b * math.cos(t), 1.25 * b * math.sin(t), b * 0.6))  # kidney
    s.gran_r, s.n_gran, s.keep_nuc = 0.2, int(0.9 * d * d), 0.4
    s.tex_amp, s.tex_scale, s.rna = 0.3, 0.5, 0.006


def _myelocyte(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(14.0, 1.2), 12.0, 18.0) * sc
    rn = d / 2 * rng.uniform(0.5, 0.6)
    ox, oy, nuc = _eccentric_round(rng, d, rn, 0.7)
    s.nucleus = [nuc]
    s.gran_r, s.n_gran, s.keep_nuc = 0.22, int(0.8 * d * d), 0.3
    s.tex_amp, s.tex_scale, s.rna = 0.25, 0.5, 0.012


def _promyelocyte(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(17.0, 1.5), 14.0, 20.0) * sc
    rn = d / 2 * rng.uniform(0.55, 0.65)
    ox, oy, nuc = _eccentric_round(rng, d, rn, 0.5)
    s.nucleus = [nuc]
    s.nucleoli = _nucleoli(rng, ox, oy, rn, int(rng.integers(1, 3)), (0.5, 0.8))
    s.nucleolus_rna_pg = 0.8
    s.gran_r, s.n_gran, s.keep_nuc = 0.32, int(0.6 * d * d), 0.6  # large primary granules
    s.tex_amp, s.tex_scale, s.rna = 0.15, 0.4, 0.025


def _blast(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(15.0, 1.8), 12.0, 19.0) * sc
    rn = d / 2 * rng.uniform(0.72, 0.85)  # nucleus : cytoplasm ratio 0.7-0.9
    ox, oy, nuc = _eccentric_round(rng, d, rn, 0.3)
    s.nucleus = [nuc]
    s.nucleoli = _nucleoli(rng, ox, oy, rn, int(rng.integers(2, 5)), (0.45, 0.8))
    s.nucleolus_rna_pg = 1.0
    s.tex_amp, s.tex_scale = 0.08, 0.3  # fine, open chromatin
    s.rna = 0.04  # thin, basophilic cytoplasm
    s.cyto_p *= 0.8
    if rng.uniform() < 0.3:  # a few fine azurophilic granules (myeloblast)
        s.gran_r, s.n_gran, s.keep_nuc = 0.18, int(rng.integers(3, 12)), 0.0


def _variant_lymphocyte(
    rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design
) -> None:
    s.d = d = np.clip(rng.normal(15.5, 1.8), 12.0, 19.0) * sc
    rn = d / 2 * rng.uniform(0.45, 0.58)
    ox, oy, nuc = _eccentric_round(rng, d, rn, 0.4)
    s.nucleus = [nuc]
    if rng.uniform() < 0.4:  # indented or cleaved nucleus
        t = rng.uniform(0, 2 * np.pi)
        s.nucleus.append(
            ("cut", ox + 1.2 * rn * math.cos(t), oy + 1.2 * rn * math.sin(t), 0.5 * rn)
        )
    a2, p2, a3, p3 = s.outline  # irregular, skirting outline (the cell hugs its neighbours)
    s.outline = (a2 + rng.normal(0, 0.07), p2, a3 + rng.normal(0, 0.05), p3)
    s.tex_amp, s.tex_scale = 0.3, 0.55
    s.rna = 0.045  # abundant, basophilic cytoplasm


def _plasma_cell(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = d = np.clip(rng.normal(12.5, 1.2), 10.0, 15.0) * sc
    rn = d / 2 * rng.uniform(0.45, 0.55)
    ox, oy, nuc = _eccentric_round(rng, d, rn, 0.9)
    s.nucleus = [nuc]
    a2, p2, a3, p3 = s.outline
    s.outline = (abs(a2) + 0.1, p2, a3, p3)  # oval
    nr = math.hypot(ox, oy) or 1.0
    zr = 0.35 * d / 2  # perinuclear clear zone (Golgi) on the cell's side of the nucleus
    s.clear_zone = (ox - ox / nr * (rn + 0.6 * zr), oy - oy / nr * (rn + 0.6 * zr), zr)
    s.tex_amp, s.tex_scale = 0.55, 0.6  # coarse "clock-face" chromatin
    s.rna = 0.06  # intensely basophilic cytoplasm (immunoglobulin synthesis)
    s.cyto_p *= 1.2


def _nrbc(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = np.clip(rng.normal(9.0, 0.8), 7.5, 11.0) * sc
    rn = rng.uniform(2.0, 2.6) * sc  # small, dense (condensed) nucleus
    ox, oy, nuc = _eccentric_round(rng, s.d, rn, 0.4)
    s.nucleus = [nuc]
    s.hb_pg = float(np.clip(rng.normal(donor.rbc_hb_pg, 3.0), 12.0, 40.0))
    s.cyto_p *= 0.25  # the cytoplasm is haemoglobin, not other protein
    s.tex_amp, s.tex_scale, s.rna = 0.1, 0.6, 0.002


def _smudge(rng: np.random.Generator, sc: float, donor: DonorProfile, s: _Design) -> None:
    s.d = np.clip(rng.normal(13.0, 2.0), 9.0, 17.0) * sc
    a, p = 0.22 + rng.uniform(0, 0.12), rng.uniform(0, 6.3)  # a smeared, streaky outline
    s.outline = (a, p, rng.normal(0, 0.08), rng.uniform(0, 6.3))
    r = s.d / 2
    s.nucleus = [("e", 0.0, 0.0, r * 1.3, r * 1.0, 0.0)]  # the chromatin fills the remnant
    s.cyto_p *= 0.05  # no cytoplasm outline left
    s.tex_amp, s.tex_scale, s.rna = 0.7, 0.9, 0.0


_DesignStep = Callable[[np.random.Generator, float, DonorProfile, _Design], None]
_DEAD_DESIGNS: dict[str, _DesignStep] = {"pyknotic": _pyknotic, "karyorrhexis": _karyorrhexis}
_KIND_DESIGNS: dict[str, _DesignStep] = {
    "neutrophil": _neutrophil,
    "eosinophil": _eosinophil,
    "basophil": _basophil,
    "lymphocyte": _lymphocyte,
    "monocyte": _monocyte,
    "band_neutrophil": _band,
    "metamyelocyte": _metamyelocyte,
    "myelocyte": _myelocyte,
    "promyelocyte": _promyelocyte,
    "blast": _blast,
    "variant_lymphocyte": _variant_lymphocyte,
    "plasma_cell": _plasma_cell,
    "nrbc": _nrbc,
    "smudge": _smudge,
}


def make_wbc(
    rng: np.random.Generator,
    cell_id: int,
    kind: str,
    dead: str | None,
    cx: float,
    cy: float,
    donor: DonorProfile,
) -> WBC:
    """Design one WBC of ``kind`` (or a dead cell) from its own random stream."""
    sc = donor.wbc_size_scale
    outline = (
        float(rng.normal(0, 0.03)),
        float(rng.uniform(0, 6.3)),
        float(rng.normal(0, 0.02)),
        float(rng.uniform(0, 6.3)),
    )
    s = _Design(outline=outline, cyto_p=donor.cytoplasm_protein_pg_um2)
    dna = donor.dna_pg * rng.normal(1.0, 0.04)
    nprot = donor.nuclear_protein_pg * rng.normal(1.0, 0.1)

    design = _DEAD_DESIGNS.get(dead or "") or _KIND_DESIGNS.get(kind)
    if design is None:
        raise ValueError(f"unknown WBC kind {kind!r}")
    design(rng, sc, donor, s)

    radius = float(s.d / 2)
    proto = WBC(
        cell_id,
        kind,
        dead,
        cx,
        cy,
        radius,
        float(rng.uniform(0, 2 * np.pi)),
        s.outline,
        tuple(s.nucleus),
        np.zeros((0, 2), np.float32),
        float(s.gran_r),
        (),
        int(rng.integers(0, 2**31)),
        s.tex_amp,
        s.tex_scale,
        float(dna),
        float(nprot),
        float(s.cyto_p),
        float(s.rna),
        s.large,
        nucleoli=tuple(s.nucleoli),
        nucleolus_rna_pg=float(s.nucleolus_rna_pg),
        clear_zone=s.clear_zone,
        cyto_hb_pg=float(s.hb_pg),
    )
    vac = s.vac
    if vac:  # vacuoles only in the cytoplasm
        dv = proto._sdf_nucleus(
            np.array([v[0] for v in vac], np.float32), np.array([v[1] for v in vac], np.float32)
        )
        vac = [v for v, dd in zip(vac, dv, strict=True) if dd > v[2]]
    n_gran, keep_nuc = s.n_gran, s.keep_nuc
    granules = _granules(rng, n_gran, 0.9 * radius, proto, keep_nuc) if n_gran else proto.granules
    return WBC(**{**proto.__dict__, "granules": granules, "vacuoles": tuple(vac)})
