"""The virtual slide: cells generated lazily in chunks and rasterised in cached tiles.

Generation chunks are squares of the smear (``chunk_um``) seeded from (seed, ix, iy), so a
25 x 25 mm smear costs nothing until looked at and every view of a place sees the same cells.
A cell belongs to the chunk holding its centre. Rasterisation is a second, pixel-size-aware
layer: square tiles of the global pixel grid, each drawing every object that overlaps it,
kept in a byte-bounded LRU cache.

Identity: every WBC, RBC and platelet has a global id from a range of ids its chunk owns
(``(iy * nx + ix) * IDS + k + 1``), so ids are stable however the slide is visited. The truth
tile holds instance maps of each: ``cell``/``nuc`` (WBC ids), ``rbc_id`` and ``plt_id``; where
two RBCs (or platelets) overlap, the larger id wins the pixel (the one drawn later) and an RBC
overlapping another by more than ``OVERLAP_MIN_FRACTION`` of the smaller's area is marked
``overlapped`` (both of them).
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uvscope.classes import RBC_CLASSES
from uvscope.config import SimConfig
from uvscope.errors import ConfigError
from uvscope.sim.cells import (
    FRAGMENTS,
    RBC,
    Debris,
    Platelet,
    fragment_area_fraction,
    lens_area,
    make_debris,
    make_platelets,
    rbc_overlap,
)
from uvscope.sim.donors import PRECLASS_KINDS, WBC_KINDS, DonorProfile
from uvscope.sim.optics import OpticsParams
from uvscope.sim.shapes import Patch
from uvscope.sim.wbc import WBC, make_wbc

IDS_PER_CHUNK = 256
#: RBC and platelet ids each chunk owns (each kind has its own id space and map)
RBC_IDS_PER_CHUNK = 1024
PLT_IDS_PER_CHUNK = 1024
#: an RBC is ``overlapped`` when another covers more than this share of the smaller's area
OVERLAP_MIN_FRACTION = 0.05
LN10 = math.log(10.0)


@dataclass(frozen=True)
class SlideLayout:
    """Geometry of the smear and of the generator's caches (estimates, adjustable)."""

    chunk_um: float = 128.0
    tile_px: int = 512
    #: blank (cell-free) patch size; enlarged to 1.6 camera fields when the camera is bigger
    blank_size_mm: tuple[float, float] = (0.6, 0.45)
    #: keep blank patches this far inside the smear edge
    blank_margin_mm: float = 1.0
    #: RBCs may touch a WBC: minimum centre distance as a fraction of the radius sum
    rbc_wbc_spacing: float = 0.82
    #: byte budget of the raster tile cache
    tile_cache_mb: float = 192.0
    #: relative variation of RBC coverage across the smear (thick and thin areas)
    coverage_variation: float = 0.25
    chunk_cache: int = 600


@dataclass
class Chunk:
    wbcs: list[WBC]
    rbcs: list[RBC] = field(default_factory=list)
    others: list[Platelet | Debris] = field(default_factory=list)
    #: the RBCs' ``overlapped`` flags are set (they need the neighbouring chunks)
    overlaps_done: bool = False


@dataclass
class Tile:
    na: np.ndarray
    prot: np.ndarray
    hb: np.ndarray
    scat: np.ndarray
    cell: np.ndarray
    nuc: np.ndarray
    #: int32 RBC instance ids (0 = none; the larger id wins where RBCs overlap)
    rbc_id: np.ndarray
    #: int32 platelet instance ids (0 = none; the larger id wins where platelets overlap)
    plt_id: np.ndarray
    wbc_ids: set[int]
    #: transmission per wavelength, computed on first use
    trans: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def rbc(self) -> np.ndarray:
        """Bool mask of red cells (derived, so the tile stores one map, not two)."""
        mask: np.ndarray = self.rbc_id > 0
        return mask

    @property
    def nbytes(self) -> int:
        arrays = (
            self.na,
            self.prot,
            self.hb,
            self.scat,
            self.cell,
            self.nuc,
            self.rbc_id,
            self.plt_id,
            *self.trans.values(),
        )
        return sum(a.nbytes for a in arrays)

    def get(self, name: str | int) -> np.ndarray:
        """A map by name, or the transmission at a wavelength given as an int."""
        return self.trans[name] if isinstance(name, int) else getattr(self, name)


MAPS = ("na", "prot", "hb", "scat")
LABELS = ("cell", "nuc", "rbc", "rbc_id", "plt_id")


class VirtualSlide:
    """Cells of one smear (seed + donor) and their rasterisation at a pixel size."""

    def __init__(
        self,
        sim: SimConfig,
        donor: DonorProfile,
        optics: OpticsParams,
        layout: SlideLayout | None = None,
        blank_min_mm: tuple[float, float] = (0.4, 0.3),
    ):
        self.sim, self.donor, self.optics = sim, donor, optics
        self.layout = layout or SlideLayout()
        c = self.layout.chunk_um
        self.origin_um = (sim.slide_origin_mm[0] * 1e3, sim.slide_origin_mm[1] * 1e3)
        self.size_um = (sim.slide_size_mm[0] * 1e3, sim.slide_size_mm[1] * 1e3)
        self.nx = int(math.ceil(self.size_um[0] / c))
        self.ny = int(math.ceil(self.size_um[1] / c))
        if self.nx * self.ny * max(RBC_IDS_PER_CHUNK, PLT_IDS_PER_CHUNK) >= 2**31:
            raise ConfigError(
                f"sim.slide_size_mm = {sim.slide_size_mm}: too large for int32 cell ids; "
                "use a smear of at most 150 x 150 mm"
            )
        self._kind_p = donor.fractions()
        self._preclass_share = donor.preclass_share()
        self._preclass_p = donor.preclass_fractions()
        self._wbc_cache: OrderedDict[tuple[int, int], list[WBC]] = OrderedDict()
        self._chunk_cache: OrderedDict[tuple[int, int], Chunk] = OrderedDict()
        self._tiles: OrderedDict[tuple[float, int, int], Tile] = OrderedDict()
        self._tile_bytes = 0
        bw = max(self.layout.blank_size_mm[0], blank_min_mm[0])
        bh = max(self.layout.blank_size_mm[1], blank_min_mm[1])
        fit = int(self.size_um[0] * self.size_um[1] // (bw * bh * 1e6))
        if sim.blank_regions > fit:
            raise ConfigError(
                f"sim.blank_regions = {sim.blank_regions}: at most {fit} blank patches of "
                f"{bw:.2f} x {bh:.2f} mm fit on a {sim.slide_size_mm[0]} x "
                f"{sim.slide_size_mm[1]} mm smear; use fewer"
            )
        self.blank_rects_um = self._place_blanks(sim.blank_regions, bw * 1e3, bh * 1e3)
        self.max_object_um = 14.0
        self._blank: dict[float, Tile] = {}  # one shared empty tile per pixel size

    # ------------------------------------------------------------------ layout
    def _place_blanks(self, n: int, w: float, h: float) -> list[tuple[float, float, float, float]]:
        rng = np.random.default_rng([self.sim.seed, 0xB1A4])
        m = self.layout.blank_margin_mm * 1e3
        ox, oy = self.origin_um
        sx, sy = self.size_um
        rects: list[tuple[float, float, float, float]] = []
        for _ in range(n):
            for _try in range(200):
                x0 = ox + m + rng.uniform(0, max(sx - 2 * m - w, 0))
                y0 = oy + m + rng.uniform(0, max(sy - 2 * m - h, 0))
                r = (x0, y0, x0 + w, y0 + h)
                if all(r[2] < q[0] or r[0] > q[2] or r[3] < q[1] or r[1] > q[3] for q in rects):
                    rects.append(r)
                    break
        return rects

    def _thickness(self, x: float, y: float) -> float:
        """Relative RBC coverage: a smear is thicker in places (smooth, seeded)."""
        a = self.layout.coverage_variation
        if a <= 0:
            return 1.0
        rng = np.random.default_rng([self.sim.seed, 0x7417])
        f = rng.uniform(0.2, 0.6, (3, 2)) * 2 * np.pi / 1e3  # cycles per mm
        ph = rng.uniform(0, 2 * np.pi, 3)
        v = sum(math.sin(f[i, 0] * x + f[i, 1] * y + ph[i]) for i in range(3)) / 3
        return 1.0 + a * v

    def _in_smear_and_not_blank(self, x: float, y: float, r: float) -> bool:
        ox, oy = self.origin_um
        if not (ox <= x < ox + self.size_um[0] and oy <= y < oy + self.size_um[1]):
            return False
        for x0, y0, x1, y1 in self.blank_rects_um:
            if x0 - r < x < x1 + r and y0 - r < y < y1 + r:
                return False
        return True

    def chunk_range(self, x0: float, y0: float, x1: float, y1: float) -> tuple[range, range]:
        c = self.layout.chunk_um
        ox, oy = self.origin_um
        ix0 = max(int(math.floor((x0 - ox) / c)), 0)
        ix1 = min(int(math.floor((x1 - ox) / c)), self.nx - 1)
        iy0 = max(int(math.floor((y0 - oy) / c)), 0)
        iy1 = min(int(math.floor((y1 - oy) / c)), self.ny - 1)
        return range(ix0, ix1 + 1), range(iy0, iy1 + 1)

    def _chunk_box(self, ix: int, iy: int) -> tuple[float, float, float]:
        c = self.layout.chunk_um
        return self.origin_um[0] + ix * c, self.origin_um[1] + iy * c, c

    # ------------------------------------------------------------------ generation
    def wbcs(self, ix: int, iy: int) -> list[WBC]:
        """The WBCs whose centre lies in chunk (ix, iy); cheap, cached."""
        key = (ix, iy)
        hit = self._wbc_cache.get(key)
        if hit is not None:
            self._wbc_cache.move_to_end(key)
            return hit
        rng = np.random.default_rng([self.sim.seed, ix, iy, 1])
        x0, y0, c = self._chunk_box(ix, iy)
        # touching partners are added below, so seed fewer to keep wbc_per_mm2 overall
        lam = self.donor.wbc_per_mm2 * (c * 1e-3) ** 2 / (1.0 + self.donor.wbc_touching_prob)
        n = min(int(rng.poisson(lam)), IDS_PER_CHUNK // 2 - 1)
        out: list[WBC] = []
        base = (iy * self.nx + ix) * IDS_PER_CHUNK + 1
        k = 0
        for _ in range(n):
            x, y = x0 + rng.uniform(0, c), y0 + rng.uniform(0, c)
            w = self._new_wbc(rng, ix, iy, base, k, x, y)
            k += 1
            if w is None:
                continue
            out.append(w)
            if rng.uniform() < self.donor.wbc_touching_prob and k < IDS_PER_CHUNK - 1:
                # a second WBC touching (or slightly overlapping) the first
                t = rng.uniform(0, 2 * np.pi)
                p = self._new_wbc(rng, ix, iy, base, k, x, y)
                k += 1
                if p is None:
                    continue
                dist = (w.radius + p.radius) * rng.uniform(0.82, 1.0)
                px, py = x + dist * math.cos(t), y + dist * math.sin(t)
                if (
                    x0 <= px < x0 + c
                    and y0 <= py < y0 + c
                    and self._in_smear_and_not_blank(px, py, 12.0)
                ):
                    out.append(dataclasses.replace(p, cx=px, cy=py))
        self._wbc_cache[key] = out
        if len(self._wbc_cache) > 8 * self.layout.chunk_cache:
            self._wbc_cache.popitem(last=False)
        return out

    def _new_wbc(
        self, rng: np.random.Generator, ix: int, iy: int, base: int, k: int, x: float, y: float
    ) -> WBC | None:
        kind = WBC_KINDS[int(rng.choice(len(WBC_KINDS), p=self._kind_p))]
        dead = None
        if rng.uniform() < self.donor.dead_fraction:
            kx = rng.uniform() < self.donor.karyorrhexis_fraction
            dead = "karyorrhexis" if kx else "pyknotic"
        if not self._in_smear_and_not_blank(x, y, 12.0):
            return None
        if self._preclass_share > 0:
            kind = self._preclass_kind(ix, iy, k, kind)
        cell_rng = np.random.default_rng([self.sim.seed, ix, iy, 1, k])
        return make_wbc(cell_rng, base + k, kind, dead, x, y, self.donor)

    def _preclass_kind(self, ix: int, iy: int, k: int, kind: str) -> str:
        """The cell's kind, or a pre-class drawn in its place from a stream of its own, so a
        donor's five-class cells keep their places and kinds whatever pre-classes it carries."""
        rng = np.random.default_rng([self.sim.seed, ix, iy, 3, k])
        if rng.uniform() >= self._preclass_share:
            return kind
        return PRECLASS_KINDS[int(rng.choice(len(PRECLASS_KINDS), p=self._preclass_p))]

    def chunk(self, ix: int, iy: int) -> Chunk:
        """All objects whose centre lies in chunk (ix, iy)."""
        ch = self._raw_chunk(ix, iy)
        if not ch.overlaps_done:
            ch.rbcs = self._flag_overlaps(ix, iy, ch.rbcs)
            ch.overlaps_done = True
        return ch

    def _raw_chunk(self, ix: int, iy: int) -> Chunk:
        """The chunk, its RBCs' overlap flags maybe not set yet (cached either way)."""
        key = (ix, iy)
        hit = self._chunk_cache.get(key)
        if hit is not None:
            self._chunk_cache.move_to_end(key)
            return hit
        ch = self._generate(ix, iy)
        self._chunk_cache[key] = ch
        if len(self._chunk_cache) > self.layout.chunk_cache:
            self._chunk_cache.popitem(last=False)
        return ch

    def _flag_overlaps(self, ix: int, iy: int, rbcs: list[RBC]) -> list[RBC]:
        """``overlapped`` set on the chunk's RBCs that overlap any RBC (in any chunk) by more
        than OVERLAP_MIN_FRACTION of the smaller one's area; symmetric, so both are marked."""
        if not rbcs:
            return rbcs
        others = [
            q
            for jx in (ix - 1, ix, ix + 1)
            for jy in (iy - 1, iy, iy + 1)
            if 0 <= jx < self.nx and 0 <= jy < self.ny
            for q in (rbcs if (jx, jy) == (ix, iy) else self._raw_chunk(jx, jy).rbcs)
        ]
        pts = np.array([(q.cx, q.cy, q.reach_um, q.area_um2) for q in others])
        own = np.array([(r.cx, r.cy, r.reach_um, r.area_um2) for r in rbcs])
        dist = np.hypot(own[:, None, 0] - pts[None, :, 0], own[:, None, 1] - pts[None, :, 1])
        ii, jj = np.nonzero(dist < own[:, None, 2] + pts[None, :, 2])
        # the discs holding the two outlines must share more than the threshold to matter
        shared = lens_area(own[ii, 2], pts[jj, 2], dist[ii, jj])
        keep = shared > OVERLAP_MIN_FRACTION * np.minimum(own[ii, 3], pts[jj, 3])
        hit = np.zeros(len(rbcs), bool)
        for i, j in zip(ii[keep].tolist(), jj[keep].tolist(), strict=True):
            q = others[j]
            if not hit[i] and q.id != rbcs[i].id:
                hit[i] = rbc_overlap(rbcs[i], q, OVERLAP_MIN_FRACTION)
        flagged = [
            dataclasses.replace(r, overlapped=True) if h else r
            for r, h in zip(rbcs, hit, strict=True)
        ]
        return flagged

    def _generate(self, ix: int, iy: int) -> Chunk:
        d = self.donor
        rng = np.random.default_rng([self.sim.seed, ix, iy, 2])
        x0, y0, c = self._chunk_box(ix, iy)
        wbcs = self.wbcs(ix, iy)
        near = [
            w
            for jx in (ix - 1, ix, ix + 1)
            for jy in (iy - 1, iy, iy + 1)
            if 0 <= jx < self.nx and 0 <= jy < self.ny
            for w in self.wbcs(jx, jy)
        ]
        mean_area = math.pi * (d.rbc_diameter_um / 2) ** 2
        cover = d.rbc_coverage * self._thickness(x0 + c / 2, y0 + c / 2)
        n_rbc = min(int(rng.poisson(cover * c * c / mean_area)), RBC_IDS_PER_CHUNK - 1)
        rbc_base = (iy * self.nx + ix) * RBC_IDS_PER_CHUNK + 1
        rbcs = self._place_rbcs(rng, x0, y0, c, n_rbc, near, rbc_base)
        # morphology details come from a stream of their own, so the draws above and below
        # (and so the slides of donors without poikilocytes) are what they always were
        v = np.random.default_rng([self.sim.seed, ix, iy, 3]).uniform(0, 1, (len(rbcs), 2))
        rbcs = [r if r.morph in _AS_DRAWN else _shaped(r, v[k]) for k, r in enumerate(rbcs)]
        others: list[Platelet | Debris] = []
        n_plt = int(rng.poisson(d.platelets_per_rbc * n_rbc))
        plt_base = (iy * self.nx + ix) * PLT_IDS_PER_CHUNK + 1
        k = 0
        for _ in range(n_plt):
            x, y = x0 + rng.uniform(0, c), y0 + rng.uniform(0, c)
            if not self._in_smear_and_not_blank(x, y, 8.0):
                continue
            clump = int(rng.integers(2, 6)) if rng.uniform() < d.platelet_clump_prob else 1
            if k + clump >= PLT_IDS_PER_CHUNK:
                break  # the chunk's platelet ids are used up (far beyond any real count)
            others.extend(make_platelets(rng, x, y, clump, plt_base + k))
            k += clump
        area_mm2 = (c * 1e-3) ** 2
        for dust, rate in ((False, d.debris_per_mm2), (True, d.dust_per_mm2)):
            for _ in range(int(rng.poisson(rate * area_mm2))):
                x, y = x0 + rng.uniform(0, c), y0 + rng.uniform(0, c)
                if self._in_smear_and_not_blank(x, y, 6.0):
                    others.append(make_debris(rng, x, y, dust))
        return Chunk(wbcs, rbcs, others)

    def _place_rbcs(
        self,
        rng: np.random.Generator,
        x0: float,
        y0: float,
        c: float,
        n: int,
        wbcs: list[WBC],
        first_id: int,
    ) -> list[RBC]:
        """Dart throwing: RBCs mostly apart, some overlapping, none on top of a WBC."""
        d = self.donor
        m = 6 * n + 20
        # every random attribute drawn up front, so the loop below is plain Python arithmetic
        xs = (x0 + rng.uniform(0, c, m)).tolist()
        ys = (y0 + rng.uniform(0, c, m)).tolist()
        rs = (np.maximum(rng.normal(d.rbc_diameter_um, d.rbc_diameter_sd_um, m), 5.0) / 2).tolist()
        allow = (rng.uniform(0, 1, m) < d.rbc_overlap_prob).tolist()
        # one uniform per candidate picks its class (sickle first: the draw that once
        # decided "sickle or not", so sickle donors keep their cells)
        shares = d.rbc_morph_shares()
        edges = np.cumsum([shares[k] for k in RBC_CLASSES[1:]])
        pick = np.searchsorted(edges, rng.uniform(0, 1, m), side="right").tolist()
        morphs = [*RBC_CLASSES[1:], RBC_CLASSES[0]]
        hb = np.maximum(rng.normal(d.rbc_hb_pg, d.rbc_hb_sd_pg, m), 10.0)
        u = rng.uniform(0, 1, (m, 4))
        spacing = self.layout.rbc_wbc_spacing
        wl = [(w.cx, w.cy, w.radius) for w in wbcs]
        cell = 10.0
        grid: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
        out: list[RBC] = []
        for i in range(m):
            if len(out) >= n:
                break
            x, y, r = xs[i], ys[i], rs[i]
            if any(math.hypot(wx - x, wy - y) < spacing * (wr + r) for wx, wy, wr in wl):
                continue
            gx, gy = int(x // cell), int(y // cell)
            near = [
                q
                for ax in (gx - 1, gx, gx + 1)
                for ay in (gy - 1, gy, gy + 1)
                for q in grid.get((ax, ay), ())
            ]
            dists = [(math.hypot(qx - x, qy - y), qr + r) for qx, qy, qr in near]
            if any(dd < 0.45 * rr for dd, rr in dists):
                continue
            if not allow[i] and any(dd < 0.95 * rr for dd, rr in dists):
                continue
            if not self._in_smear_and_not_blank(x, y, r + 1.0):
                continue
            grid.setdefault((gx, gy), []).append((x, y, r))
            a = float(u[i, 0] * np.pi)
            morph = morphs[pick[i]]
            if morph == "sickle":
                out.append(
                    RBC(
                        x,
                        y,
                        5.5 + 2.5 * u[i, 1],
                        1.1 + 0.6 * u[i, 2],
                        a,
                        float(hb[i]) * (0.7 + 0.3 * u[i, 3]),
                        1.0,
                        "sickle",
                        float((0.02 + 0.05 * u[i, 3]) * (1 if u[i, 1] > 0.5 else -1)),
                        first_id + len(out),
                    )
                )
            else:
                out.append(
                    RBC(
                        x,
                        y,
                        r,
                        r * (0.9 + 0.1 * u[i, 1]),
                        a,
                        float(hb[i]),
                        float((0.6 + 1.0 * u[i, 2]) * d.rbc_pallor_scale),
                        morph,
                        id=first_id + len(out),
                    )
                )
        return out

    def rbcs_in_box(self, x0: float, y0: float, x1: float, y1: float) -> list[RBC]:
        """RBCs whose centre lies in the box (stage um), with ids, classes and overlap flags."""
        xs, ys = self.chunk_range(x0, y0, x1, y1)
        return [
            r
            for iy in ys
            for ix in xs
            for r in self.chunk(ix, iy).rbcs
            if x0 <= r.cx < x1 and y0 <= r.cy < y1
        ]

    def platelets_in_box(self, x0: float, y0: float, x1: float, y1: float) -> list[Platelet]:
        """Platelets whose centre lies in the box (stage um); a clump's members share a
        ``clump_id`` (a clump cut by the box edge is only partly inside)."""
        xs, ys = self.chunk_range(x0, y0, x1, y1)
        return [
            p
            for iy in ys
            for ix in xs
            for p in self.chunk(ix, iy).others
            if isinstance(p, Platelet) and x0 <= p.cx < x1 and y0 <= p.cy < y1
        ]

    def wbcs_in_box(self, x0: float, y0: float, x1: float, y1: float) -> list[WBC]:
        """WBCs whose centre lies in the box (stage um)."""
        xs, ys = self.chunk_range(x0, y0, x1, y1)
        return [
            w
            for iy in ys
            for ix in xs
            for w in self.wbcs(ix, iy)
            if x0 <= w.cx < x1 and y0 <= w.cy < y1
        ]

    def objects_near(self, x0: float, y0: float, x1: float, y1: float) -> list[Any]:
        """Every object whose centre lies within ``max_object_um`` of the box."""
        m = self.max_object_um
        xs, ys = self.chunk_range(x0 - m, y0 - m, x1 + m, y1 + m)
        out: list[Any] = []
        for iy in ys:
            for ix in xs:
                ch = self._raw_chunk(ix, iy)  # drawing needs no overlap flags
                out.extend(ch.others)
                out.extend(ch.rbcs)
                out.extend(ch.wbcs)  # drawn last: WBC labels win over RBC overlaps
        return out

    # ------------------------------------------------------------------ raster tiles
    def _outside(self, ps: float, ti: int, tj: int) -> bool:
        """The raster tile lies off the smear (no object can reach into it)."""
        n, m = self.layout.tile_px, self.max_object_um
        x0, y0 = tj * n * ps, ti * n * ps
        x1, y1 = x0 + n * ps, y0 + n * ps
        ox, oy = self.origin_um
        return (
            x1 < ox - m
            or x0 > ox + self.size_um[0] + m
            or y1 < oy - m
            or y0 > oy + self.size_um[1] + m
        )

    def tile(self, ps: float, ti: int, tj: int) -> Tile:
        """The raster tile (ti, tj); off the smear one shared blank tile (clear glass), so a
        stage far from the slide costs no memory."""
        if self._outside(ps, ti, tj):
            blank = self._blank.get(ps)
            if blank is None:
                n = self.layout.tile_px
                z = np.zeros((n, n), np.float32)
                zi = np.zeros((n, n), np.int32)
                blank = Tile(z, z, z, z, zi, zi, zi, zi, set())
                self._blank[ps] = blank
            return blank
        key = (ps, ti, tj)
        hit = self._tiles.get(key)
        if hit is not None:
            self._tiles.move_to_end(key)
            return hit
        t = self._raster(ps, ti, tj)
        self._tiles[key] = t
        self._tile_bytes += t.nbytes
        return t

    def _trim(self) -> None:
        """Drop least recently used tiles beyond the byte budget (never the newest 16)."""
        budget = self.layout.tile_cache_mb * 2**20
        while self._tile_bytes > budget and len(self._tiles) > 16:
            _, old = self._tiles.popitem(last=False)
            self._tile_bytes -= old.nbytes

    def _raster(self, ps: float, ti: int, tj: int) -> Tile:
        n = self.layout.tile_px
        r0, c0 = ti * n, tj * n
        arrays = {k: np.zeros((n, n), np.float32) for k in MAPS}
        cell = np.zeros((n, n), np.int32)
        nuc = np.zeros((n, n), np.int32)
        ids_of = {"rbc": np.zeros((n, n), np.int32), "plt": np.zeros((n, n), np.int32)}
        ids: set[int] = set()
        x0, y0 = c0 * ps, r0 * ps
        x1, y1 = (c0 + n) * ps, (r0 + n) * ps
        for obj in self.objects_near(x0, y0, x1, y1):
            rad = obj.bbox_radius_um if isinstance(obj, WBC) else obj.radius_um
            if obj.cx + rad < x0 or obj.cx - rad > x1 or obj.cy + rad < y0 or obj.cy - rad > y1:
                continue
            p: Patch = obj.patch(ps, self.optics)
            pr0, pc0 = p.r0 - r0, p.c0 - c0
            h, w = p.shape
            a0, b0 = max(pr0, 0), max(pc0, 0)
            a1, b1 = min(pr0 + h, n), min(pc0 + w, n)
            if a0 >= a1 or b0 >= b1:
                continue
            dst = (slice(a0, a1), slice(b0, b1))
            src = (slice(a0 - pr0, a1 - pr0), slice(b0 - pc0, b1 - pc0))
            for k in MAPS:
                v = getattr(p, k)
                if v is not None:
                    arrays[k][dst] += v[src]
            for kind, mask in (("rbc", p.rbc), ("plt", p.plt)):
                if mask is not None:  # the larger id wins an overlap (the one drawn later)
                    view = ids_of[kind][dst]
                    np.maximum(view, np.int32(p.label), out=view, where=mask[src])
            if p.cell is not None:
                m = p.cell[src]
                if m.any():
                    cell[dst][m] = p.label
                    ids.add(p.label)
                assert p.nuc is not None
                nuc[dst][p.nuc[src]] = p.label
        return Tile(
            arrays["na"],
            arrays["prot"],
            arrays["hb"],
            arrays["scat"],
            cell,
            nuc,
            ids_of["rbc"],
            ids_of["plt"],
            ids,
        )

    def _with_transmission(self, t: Tile, wavelength_nm: int) -> None:
        if wavelength_nm in t.trans:
            return
        kn, kp, kh = self.optics.od_weights(wavelength_nm)
        ks = self.optics.scatter_scale(wavelength_nm)
        od = t.na * np.float32(-kn * LN10)
        od += t.prot * np.float32(-kp * LN10)
        od += t.hb * np.float32(-kh * LN10)
        od += t.scat * np.float32(-ks * LN10)
        t.trans[wavelength_nm] = np.exp(od, out=od)
        self._tile_bytes += od.nbytes

    def window(
        self, ps: float, r0: int, c0: int, h: int, w: int, names: tuple[str | int, ...]
    ) -> dict[str | int, np.ndarray]:
        """Arrays ``names`` of the global pixel window rows r0..r0+h, cols c0..c0+w; an int
        name is the (unblurred) transmission at that wavelength."""
        n = self.layout.tile_px
        out: dict[str | int, np.ndarray] = {}
        tiles_r = range(r0 // n, (r0 + h - 1) // n + 1)
        tiles_c = range(c0 // n, (c0 + w - 1) // n + 1)
        for ti in tiles_r:
            for tj in tiles_c:
                t = self.tile(ps, ti, tj)
                a0, a1 = max(r0, ti * n), min(r0 + h, (ti + 1) * n)
                b0, b1 = max(c0, tj * n), min(c0 + w, (tj + 1) * n)
                for k in names:
                    if isinstance(k, int):
                        self._with_transmission(t, k)
                    src = t.get(k)
                    if k not in out:
                        out[k] = np.empty((h, w), src.dtype)
                    out[k][a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = src[
                        a0 - ti * n : a1 - ti * n, b0 - tj * n : b1 - tj * n
                    ]
        self._trim()
        return out


#: schistocyte cut range per fragment shape (fraction of the parent radius)
_FRAGMENT_CUTS = {"helmet": (-0.3, 0.2), "triangle": (0.4, 0.6), "crescent": (0.35, 0.6)}


#: classes drawn as placed (their shape comes from the placement's own draws)
_AS_DRAWN = ("normal", "sickle", "target")


def _shaped(r: RBC, v: np.ndarray) -> RBC:
    """The RBC with the geometry of its class, from two uniforms ``v``: spherocytes about
    0.8 of the diameter, elliptocytes with axis ratio 1.3-2.5 at the same area, schistocytes
    a fragment of the cell with haemoglobin in proportion to the area kept."""
    if r.morph == "spherocyte":
        s = 0.76 + 0.08 * v[0]
        return dataclasses.replace(r, a=r.a * s, b=r.a * s * (0.95 + 0.05 * v[1]))
    if r.morph == "elliptocyte":
        q = 1.3 + 1.2 * v[0]
        g = math.sqrt(r.a * r.b)
        return dataclasses.replace(r, a=g * math.sqrt(q), b=g / math.sqrt(q))
    if r.morph == "schistocyte":
        frag = FRAGMENTS[min(int(v[0] * len(FRAGMENTS)), len(FRAGMENTS) - 1)]
        lo, hi = _FRAGMENT_CUTS[frag]
        cut = lo + (hi - lo) * float(v[0] * len(FRAGMENTS) % 1.0)
        kept = fragment_area_fraction(frag, cut)
        hb = r.hb_pg * kept
        return dataclasses.replace(r, b=r.a, fragment=frag, cut=cut, hb_pg=hb)
    return r
