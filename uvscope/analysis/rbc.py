"""Red-cell instances of one tile, their size, shape and haemoglobin mass.

Red cells are anucleate and full of haemoglobin, which absorbs strongly in the deep UV: they
are the absorbing objects without a nucleus. Touching cells are split by a watershed on the
distance transform, seeded at its local maxima at least ``2 x split_radius`` apart; the pieces
of a split object overlap or touch, so they are counted but marked ``overlapped`` and kept out
of the per-cell haemoglobin and size, whose edges they share.

Every measure is taken for all cells of a tile at once (sums per label), so a tile of a few
hundred red cells costs a few tens of milliseconds. Haemoglobin mass (pg) =
(sum over the cell of OD x pixel area - edge scattering x perimeter) / (haemoglobin's OD per
pg/um^2 at that wavelength); see docs/whole-smear.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import cached_property

import edt
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.morphology import convex_hull_image
from skimage.segmentation import watershed

from uvscope.analysis.window_max import window_max

#: touching cells share a boundary shorter than this share of the smaller one's diameter (the
#: blur and the threshold widen a contact point into a short neck; set on simulated truth)
NECK_SHARE = 0.95
#: an unsplit piece this many times the median red cell's area holds two cells
MERGED_AREA = 1.7
#: ... or this many times the median red cell's haemoglobin
MERGED_HB = 1.6
#: the morphology rules read solidity only above these elongation (bent sickle cells: 2.0) and
#: pallor ratio (fragments: 1.2), less 20 % (uvscope.analysis.rbc_review's widest margin step)
SOLIDITY_READ_ELONGATION = 1.6
SOLIDITY_READ_PALLOR = 0.96
#: a red cell's size is read on its outline at this share of its peak (smoothed) OD: the
#: segmentation's fixed threshold on a blurred edge puts a dense cell's outline further out
#: than a pale one's (diameter error +0.6 um per pg/um^2 of haemoglobin density, which narrowed
#: the diameter CV by 3 pt on sickle and iron-deficiency smears); at a share of the cell's
#: own peak the blur moves every edge alike (set on simulated truth, benchmarks/RESULTS.md)
SIZE_PEAK_SHARE = 0.4
#: pixels at least this deep inside a piece count to its size whatever their OD (pale centres)
SIZE_INNER_UM = 1.0
#: shapes that fill at least this share of their moment ellipse are convex enough that their
#: solidity is taken as 1 (the convex hull is computed only for the others)
CONVEX_FILL = 0.93


@dataclass
class RbcRecord:
    """One red cell as the report, the tables and the indices see it."""

    rbc_id: str
    tile: int
    x_um: float
    y_um: float
    area_um2: float  # of the segmented outline (what the morphology rules read)
    #: of the outline at ``SIZE_PEAK_SHARE`` of the cell's peak OD (the size indices read it)
    equivalent_diameter_um: float
    major_axis_um: float
    minor_axis_um: float
    eccentricity: float
    solidity: float
    circularity: float
    #: mean OD of the centre over mean OD of the cell (< 1: central pallor; > 1: none)
    pallor_ratio: float
    #: mean OD of the very centre over that of the ring around it (> 1: a target's bullseye)
    centre_ratio: float
    hb_pg: float  # nan where not measured (overlapped, saturated, no usable background)
    #: the cell's share of its object's haemoglobin (an overlapped cell: what absorbs within its
    #: piece of the object): summed over counted cells it gives the MCH without leaving out
    #: overlapping cells; nan where haemoglobin is not measured at all
    hb_share_pg: float
    overlapped: bool
    saturated: bool
    morph: str  # a name of RBC_CLASSES, "" where not classified (overlapped)
    counted: bool

    @staticmethod
    def columns() -> list[str]:
        return [f.name for f in fields(RbcRecord)]

    def to_row(self) -> dict[str, object]:
        return asdict(self)

    @property
    def measured(self) -> bool:
        """Whole, single and unclipped: enters the size and haemoglobin indices."""
        return not self.overlapped and not self.saturated


def split_touching(
    labels: np.ndarray,
    keep: np.ndarray,
    dist: np.ndarray,
    radius_px: float,
    px: Pixels | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Red-cell pieces: each object in ``keep`` (by label), touching cells split.

    Returns the piece label map, the object each piece came from and whether it was split
    (overlapped). Seeds are the distance map's local maxima (at least ``radius_px`` deep and
    half the object's depth) more than ``2 * radius_px`` apart; only objects with two or more
    seeds are watershed (in one call). ``px``: the labelled pixels, when the caller has them.
    """
    n = keep.size - 1
    size = 2 * int(round(radius_px)) + 1
    flat, lab = px if px is not None else labelled_pixels(labels)
    depth = _max_per_label(dist, labels, n, (flat, lab))
    peaks = dist >= radius_px
    deep = np.flatnonzero(peaks)  # a few % of the pixels: the rest are no seed anyway
    peaks.ravel()[deep] = dist.ravel()[deep] >= 0.5 * depth[labels.ravel()[deep]]
    peaks &= dist == window_max(dist, size)
    at, plateau, m = _label_sparse(peaks)  # flat indices of the seed pixels and their plateau
    owner = np.zeros(m + 1, np.int64)
    owner[plateau] = labels.ravel()[at]
    seeds_of = np.bincount(owner[1:], minlength=n + 1)
    pieces = np.zeros(labels.shape, np.int32)
    kept = keep[lab]
    pieces.ravel()[flat[kept]] = lab[kept]
    multi = keep & (seeds_of >= 2)
    split = multi.copy()
    if not multi.any():
        return pieces, np.arange(n + 1), split
    # one watershed over every object with two or more seeds, each plateau a seed (the image
    # goes in as float32: the watershed copies it to float64 anyway, the same values)
    inside = flat[multi[lab]]
    mask = np.zeros(labels.shape, bool)
    mask.ravel()[inside] = True
    seeds = np.zeros(labels.shape, np.int32)
    sel = multi[labels.ravel()[at]]
    seeds.ravel()[at[sel]] = plateau[sel]
    parts = watershed(np.negative(dist), seeds, mask=mask)
    used = np.nonzero(multi[owner])[0]  # plateau ids that seed a split object
    order = used[np.argsort(owner[used], kind="stable")]
    first = np.ones(order.size, bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    ids = np.zeros(m + 1, np.int32)
    ids[order[first]] = owner[order[first]]  # the object's first piece keeps its label
    extra = order[~first]
    ids[extra] = n + 1 + np.arange(extra.size, dtype=np.int32)
    pieces.ravel()[inside] = ids[parts.ravel()[inside]]
    origin = np.concatenate([np.arange(n + 1), owner[extra]])
    split = np.concatenate([split, np.ones(extra.size, bool)])
    return pieces, origin, split


def _label_sparse(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``scipy.ndimage.label(mask)`` (4-connected, numbered in raster order) for a mask of a
    few pixels, as the flat indices of its pixels, their labels and the count: components of
    the graph of horizontally and vertically adjacent pixels, without a whole-tile pass."""
    at = np.flatnonzero(mask)
    k, w = at.size, mask.shape[1]
    if k == 0:
        return at, np.zeros(0, np.int32), 0
    nxt = np.minimum(np.searchsorted(at, at + 1), k - 1)
    right = (at[nxt] == at + 1) & ((at + 1) % w != 0)
    below = np.minimum(np.searchsorted(at, at + w), k - 1)
    down = at[below] == at + w
    i = np.concatenate([np.nonzero(right)[0], np.nonzero(down)[0]])
    j = np.concatenate([nxt[right], below[down]])
    graph = coo_matrix((np.ones(i.size, np.int8), (i, j)), shape=(k, k))
    m, comp = connected_components(graph, directed=False)
    first = np.full(m, k)
    np.minimum.at(first, comp, np.arange(k))  # each component's first pixel in raster order
    rank = np.empty(m, np.int32)
    rank[np.argsort(first)] = np.arange(1, m + 1, dtype=np.int32)
    return at, rank[comp], int(m)


def distance_to_edge(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (pixels, float32) of every pixel of ``mask`` to the nearest pixel
    outside it, the image border not counting as outside: the result of
    ``scipy.ndimage.distance_transform_edt`` to the bit, by the ``edt`` package's separable
    transform (a third of the time on a tile)."""
    out: np.ndarray = edt.edt(mask.view(np.uint8), black_border=False, parallel=1)
    return out


def neighbour_pairs(pieces: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The labels on either side of every pixel side where the label changes (rows, then
    columns; 0 is the background): found once for the perimeters and the necks."""
    out = []
    for a, b in ((pieces[1:, :], pieces[:-1, :]), (pieces[:, 1:], pieces[:, :-1])):
        diff = a != b
        out.append((a[diff], b[diff]))
    return out


def overlapping(
    pieces: np.ndarray,
    split: np.ndarray,
    area_um2: np.ndarray,
    px_um: float,
    sides: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray:
    """Which pieces overlap another (True) rather than merely touch it, or hold two cells.

    Two discs that touch share a short boundary; two that overlap share a chord as long as
    a good part of the smaller one's diameter. A piece is overlapped when its shared boundary
    with a neighbour exceeds ``NECK_SHARE`` of the smaller one's equivalent diameter, and an
    unsplit piece larger than ``MERGED_AREA`` times the tile's median red cell holds two.
    ``sides``: ``neighbour_pairs(pieces)``, when the caller has them.
    """
    n = split.size - 1
    over = np.zeros(n + 1, bool)
    diameter = 2.0 * np.sqrt(area_um2 / math.pi)
    pairs = []
    for a, b in sides if sides is not None else neighbour_pairs(pieces):
        sel = (a > 0) & (b > 0)
        pairs.append(np.stack([np.minimum(a[sel], b[sel]), np.maximum(a[sel], b[sel])], axis=1))
    both = np.concatenate(pairs)
    if both.size:
        key = both[:, 0].astype(np.int64) * (n + 1) + both[:, 1]  # one integer per pair
        uniq, counts = np.unique(key, return_counts=True)
        first, second = uniq // (n + 1), uniq % (n + 1)
        neck_um = counts * px_um * (math.pi / 4.0) * 2.0  # pixel sides of both orientations
        small = np.minimum(diameter[first], diameter[second])
        bad = neck_um > NECK_SHARE * small
        over[first[bad]] = True
        over[second[bad]] = True
    single = ~split
    single[0] = False
    if single.any():
        median = float(np.median(area_um2[single]))
        over |= single & (area_um2 > MERGED_AREA * median)
    over[0] = False
    return over


def holds_two(hb_pg: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """Unmarked pieces with ``MERGED_HB`` times the tile's median haemoglobin or more: two
    cells lying on each other as one outline (the overlap hides the second's edge)."""
    ok = ~marked & np.isfinite(hb_pg)
    ok[0] = False
    out = np.zeros(hb_pg.shape, bool)
    if ok.sum() >= 5:
        out[ok] = hb_pg[ok] > MERGED_HB * float(np.median(hb_pg[ok]))
    return out


@dataclass(frozen=True)
class Shapes:
    """Size and shape of every piece of a tile (index = piece label; um)."""

    area_um2: np.ndarray
    row: np.ndarray  # centroid, binned pixels
    col: np.ndarray
    major_um: np.ndarray
    minor_um: np.ndarray
    eccentricity: np.ndarray
    solidity: np.ndarray
    perimeter_um: np.ndarray
    pallor_ratio: np.ndarray
    centre_ratio: np.ndarray

    @cached_property
    def diameter_um(self) -> np.ndarray:
        d: np.ndarray = 2.0 * np.sqrt(self.area_um2 / math.pi)
        return d

    @cached_property
    def circularity(self) -> np.ndarray:
        p = np.maximum(self.perimeter_um, 1e-6)
        c: np.ndarray = np.minimum(4.0 * math.pi * self.area_um2 / (p * p), 1.0)
        return c


#: the labelled pixels of a label map: their flat indices and their labels (raster order)
Pixels = tuple[np.ndarray, np.ndarray]


def labelled_pixels(labels: np.ndarray) -> Pixels:
    """The labelled pixels of ``labels``, found once for the measures that sum over them."""
    flat = np.flatnonzero(labels)
    return flat, labels.ravel()[flat]


def _max_per_label(
    values: np.ndarray, labels: np.ndarray, n: int, px: Pixels | None = None
) -> np.ndarray:
    """The largest value under each label (0 for the background and absent labels; values
    are distances, never negative): one unbuffered maximum over the labelled pixels."""
    out = np.zeros(n + 1, np.float32)
    flat, lab = px if px is not None else labelled_pixels(labels)
    np.maximum.at(out, lab, values.ravel()[flat])
    out[0] = 0.0
    return out


def _moments(pieces: np.ndarray, n: int, px: Pixels | None = None) -> tuple[np.ndarray, ...]:
    """Pixel count, centroid and the eigenvalues of the second central moments per label
    (sums over the labelled pixels only, or over ``px``, a subset of them in raster order)."""
    flat, lab = px if px is not None else labelled_pixels(pieces)
    rows, cols = np.divmod(flat, pieces.shape[1])
    rows, cols = rows.astype(np.float64), cols.astype(np.float64)

    def sums(w: np.ndarray | None = None) -> np.ndarray:
        out: np.ndarray = np.bincount(lab, w, minlength=n + 1).astype(np.float64)
        return out

    cnt = np.maximum(sums(), 1.0)
    mr, mc = sums(rows) / cnt, sums(cols) / cnt
    mrr = sums(rows * rows) / cnt - mr * mr
    mcc = sums(cols * cols) / cnt - mc * mc
    mrc = sums(rows * cols) / cnt - mr * mc
    half = (mrr + mcc) / 2.0
    root = np.sqrt(np.maximum(((mrr - mcc) / 2.0) ** 2 + mrc * mrc, 0.0))
    l1, l2 = half + root, np.maximum(half - root, 0.0)
    return cnt, mr, mc, l1, l2


def axis_ratio(labels: np.ndarray, n: int, px: Pixels | None = None) -> np.ndarray:
    """Major over minor axis of every label (second moments; 1 for a disc); with ``px`` (some
    labels' pixels, as ``labelled_pixels`` lists them), of those labels only (0 for the others)."""
    _, _, _, l1, l2 = _moments(labels, n, px)
    out: np.ndarray = np.sqrt(l1 / np.maximum(l2, 1e-6))
    return out


def _edge_counts(sides: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """Pixel sides a label shares with another label or the background (x pi/4 = perimeter)."""
    out = np.zeros(n + 1, np.float64)
    for a, b in sides:
        out += np.bincount(a, minlength=n + 1)
        out += np.bincount(b, minlength=n + 1)
    return out


def measure(
    pieces: np.ndarray,
    n: int,
    od: np.ndarray,
    dist: np.ndarray,
    px_um: float,
    sides: list[tuple[np.ndarray, np.ndarray]] | None = None,
    px: Pixels | None = None,
) -> Shapes:
    """Area, centroid, axes, eccentricity, solidity, perimeter and pallor of every piece
    (``sides``: ``neighbour_pairs(pieces)``, ``px``: ``labelled_pixels(pieces)``, when the
    caller has them)."""
    px = px if px is not None else labelled_pixels(pieces)
    cnt, mr, mc, l1, l2 = _moments(pieces, n, px)
    area = cnt * px_um * px_um
    major, minor = 4.0 * np.sqrt(l1) * px_um, 4.0 * np.sqrt(l2) * px_um
    ecc = np.sqrt(np.clip(1.0 - l2 / np.maximum(l1, 1e-12), 0.0, 1.0))
    sides = sides if sides is not None else neighbour_pairs(pieces)
    perim = _edge_counts(sides, n) * (math.pi / 4.0) * px_um
    solidity = np.ones(n + 1)
    pallor, centre = _pallor(pieces, n, od, dist, px)
    return Shapes(area, mr, mc, major, minor, ecc, solidity, perim, pallor, centre)


def outline_diameter_um(
    margin: Pixels, n: int, smooth: np.ndarray, dist: np.ndarray, px_um: float, px: Pixels
) -> np.ndarray:
    """Equivalent diameter of every piece's outline at ``SIZE_PEAK_SHARE`` of its peak
    smoothed OD: the pixels of the piece and of its margin (``margin``: the labelled pixels of
    the pieces grown into the pixels no other object claims) at or above that level, and
    every pixel at least ``SIZE_INNER_UM`` inside the piece. ``px``: the pieces' own."""
    flat, lab = px
    peak = np.zeros(n + 1, np.float32)
    np.maximum.at(peak, lab, smooth.ravel()[flat])
    at, own = margin
    keep = smooth.ravel()[at] >= np.float32(SIZE_PEAK_SHARE) * peak[own]
    keep |= dist.ravel()[at] >= SIZE_INNER_UM / px_um
    area = np.bincount(own[keep], minlength=n + 1) * (px_um * px_um)
    d: np.ndarray = 2.0 * np.sqrt(area / math.pi)
    return d


def measure_solidity(
    pieces: np.ndarray, shapes: Shapes, which: np.ndarray, slices: list[tuple[slice, slice] | None]
) -> None:
    """Solidity (area over convex hull) of the pieces in ``which`` that fill less than
    ``CONVEX_FILL`` of their moment ellipse and that the morphology rules could read it for,
    in place (the others keep 1). Only whole cells are classified, so the hulls of overlapped
    pieces are never computed; the rules read solidity only for elongated cells (bent sickle
    cells) and cells without central pallor (fragments), and ``SOLIDITY_READ_*`` leave room
    for the review's margins (a 20 % change of one measure)."""
    ellipse = math.pi * shapes.major_um * shapes.minor_um / 4.0
    fill = shapes.area_um2 / np.maximum(ellipse, 1e-9)
    elongation = shapes.major_um / np.maximum(shapes.minor_um, 1e-6)
    read = (elongation >= SOLIDITY_READ_ELONGATION) | (shapes.pallor_ratio > SOLIDITY_READ_PALLOR)
    for k in np.nonzero(which & read & (fill < CONVEX_FILL))[0]:
        if k and k - 1 < len(slices) and slices[k - 1] is not None:
            mask = pieces[slices[k - 1]] == k
            area = int(mask.sum())
            if area >= 3:  # regionprops' solidity, without building the region's other props
                shapes.solidity[k] = area / int(convex_hull_image(mask).sum())


def _pallor(
    pieces: np.ndarray, n: int, od: np.ndarray, dist: np.ndarray, px: Pixels
) -> tuple[np.ndarray, np.ndarray]:
    """(centre / whole, very centre / ring) mean OD per piece; the centre is where the distance
    to the edge exceeds half the piece's depth, the very centre 0.8 of it."""
    depth = _max_per_label(dist, pieces, n, px)
    flat, lab = px
    rel = dist.ravel()[flat] / np.maximum(depth[lab], 1e-6)
    v = od.ravel()[flat].astype(np.float64)

    def mean(sel: np.ndarray | None) -> np.ndarray:
        k = lab if sel is None else lab[sel]
        w = v if sel is None else v[sel]
        total = np.bincount(k, w, minlength=n + 1)
        count = np.bincount(k, minlength=n + 1)
        out: np.ndarray = total / np.maximum(count, 1)
        return out

    whole = mean(None)
    c = mean(rel >= 0.5)
    core = mean(rel >= 0.8)
    ring = mean((rel >= 0.5) & (rel < 0.8))
    pallor = np.where(whole > 0, c / np.maximum(whole, 1e-6), 1.0)
    centre = np.where(ring > 0, core / np.maximum(ring, 1e-6), 1.0)
    shallow = depth < 2.0
    pallor[shallow], centre[shallow] = 1.0, 1.0
    return pallor, centre
