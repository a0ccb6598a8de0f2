"""Mask post-processing (paper 000, 4.5.4) and cell instances.

Steps: threshold -> opening (a smaller one for nuclei: karyorrhectic fragments are small)
-> nuclei outside cells removed -> cells without a nucleus removed
-> touching cells split by a watershed of the cell mask's distance transform (where the
mask's own shape shows two bodies, never per nucleus fragment: a neutrophil's lobes stay one
cell) -> per-cell thresholds on area, solidity, Euler number, the cell's mean intensity and
the nucleus's integrated optical density (its DNA content: a large pale monocyte nucleus holds
as much as a small dark lymphocyte one, so a pale nucleus is judged by its DNA, not dropped).
Labels come out numbered 1..n in raster order of their seeds, so the same input always gives
the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops
from skimage.morphology import disk, h_maxima
from skimage.segmentation import watershed

from uvscope.analysis.settings import PostprocessSettings

#: the rules a candidate cell can fail, in the order they are tried (``Instances.removed``)
REJECTIONS: tuple[str, ...] = (
    "area", "nucleus_area", "solidity", "euler", "intensity", "nucleus_od", "nucleus_intensity",
)  # fmt: skip


@dataclass
class Instances:
    """Cell and nucleus label images of one tile (nucleus labels equal their cell's label)."""

    cells: np.ndarray  # int32 (H, W), 0 background
    nuclei: np.ndarray  # int32 (H, W), nucleus pixels carry their cell's label
    removed: dict[str, int]  # why instances were dropped, for the log and the report

    @property
    def count(self) -> int:
        return int(self.cells.max()) if self.cells.size else 0


def binary_open(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """``ndi.binary_opening(mask, disk(radius_px))``, computed one connected part at a time.

    The same pixels: the disk is 4-connected, so wherever it fits inside the mask it fits
    inside one 8-connected part, and erosion then dilation of the whole mask is the union of
    those of its parts (outside the image counts as background either way). A part whose
    bounding box is narrower than the disk vanishes without being computed. A tile's masks
    are a few cells in a large empty field, so this is ~10x faster than the whole-image call.
    """
    mask = np.asarray(mask, bool)
    if radius_px < 1:
        return mask
    fp = disk(radius_px)
    size = fp.shape[0]
    lab, _ = ndi.label(mask, structure=np.ones((3, 3), bool))
    out = np.zeros(mask.shape, bool)
    pad = radius_px + 1
    for i, sl in enumerate(ndi.find_objects(lab)):
        if sl is None or sl[0].stop - sl[0].start < size or sl[1].stop - sl[1].start < size:
            continue
        part = np.pad(lab[sl] == i + 1, pad)
        opened = ndi.binary_opening(part, fp)[pad:-pad, pad:-pad]
        out[sl] |= opened
    return out


def _touching(mask: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels of ``mask``'s parts and, indexed by label, whether each shares a pixel with
    ``other`` (index 0, the background, is False)."""
    lab, n = ndi.label(mask)
    hit = np.zeros(n + 1, bool)
    hit[np.unique(lab[other & (lab > 0)])] = True
    hit[0] = False
    return hit[lab], n


def clean_masks(
    cell_prob: np.ndarray,
    nucleus_prob: np.ndarray,
    pixel_size_um: float,
    s: PostprocessSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Binary cell and nucleus masks after opening and the joint cell/nucleus rule."""
    r = int(round(s.opening_radius_um / pixel_size_um))
    rn = int(round(s.nucleus_opening_radius_um / pixel_size_um))
    cell = binary_open(cell_prob >= s.cell_threshold, r)
    nuc = binary_open(nucleus_prob >= s.nucleus_threshold, rn)
    # nuclei without a cell: drop nucleus components that do not touch a cell, clip the rest
    nuc = _touching(nuc, cell)[0] & cell
    # cells without a nucleus
    cell = _touching(cell, nuc)[0]
    return cell, nuc & cell


def split_cells(
    cell: np.ndarray,
    nuc: np.ndarray,
    pixel_size_um: float,
    s: PostprocessSettings,
    intensity: np.ndarray | None = None,
) -> np.ndarray:
    """Label cells; split a cell mask only where its own shape says it holds several cells.

    Nuclei do not seed the split: a neutrophil's 3-5 lobes (or an eosinophil's two) lie in one
    round cell, and one seed per lobe would cut it into pieces. Instead each connected mask is
    split by a watershed of its distance transform, seeded by the maxima that stand out by at
    least ``split_min_depth_um`` (a neck between two round bodies) and are at least
    ``split_min_radius_um`` deep (a body, not a bump of the outline). A piece must then hold a
    cell's nucleus: with ``intensity`` (the normalised tile) at least
    ``split_min_nucleus_od_um2`` of nucleus absorbance (half of a notched neutrophil holds half
    its DNA), without it any nucleus pixel. The weakest piece short of that is merged into the
    neighbour it shares most border with, until every piece holds enough or one is left.
    """
    lab, n = ndi.label(cell)
    out = np.zeros(cell.shape, np.int32)
    h = s.split_min_depth_um / pixel_size_um
    rmin = s.split_min_radius_um / pixel_size_um
    nxt = 1
    for i, sl in enumerate(ndi.find_objects(lab)):
        if sl is None:
            continue
        comp = lab[sl] == i + 1
        pieces = _split_component(comp, h, rmin)
        if pieces.max() > 1:
            nm = nuc[sl] & comp
            if intensity is None:
                weight, need = nm.astype(np.float64), 0.5  # at least one nucleus pixel
            else:
                weight = np.where(nm, _od_um2(intensity[sl], pixel_size_um), 0.0)
                need = s.split_min_nucleus_od_um2
            pieces = _merge_weak_pieces(pieces, weight, need)
        k = int(pieces.max())
        view = out[sl]
        view[pieces > 0] = pieces[pieces > 0] + (nxt - 1)
        nxt += k
    return _relabel_by_group(out)


def _split_component(comp: np.ndarray, h_px: float, rmin_px: float) -> np.ndarray:
    """Labels 1..k of the bodies of one connected mask by its shape (see ``split_cells``)."""
    dist = ndi.distance_transform_edt(np.pad(comp, 1))[1:-1, 1:-1]
    if dist.max() < rmin_px + h_px or h_px <= 0:  # too small to hold two cells
        return comp.astype(np.int32)
    peaks = h_maxima(dist, h_px) & (dist >= rmin_px)
    markers, k = ndi.label(peaks, structure=np.ones((3, 3)))
    if k <= 1:
        return comp.astype(np.int32)
    pieces: np.ndarray = watershed(-dist, markers=markers, mask=comp).astype(np.int32)
    return pieces


def _merge_weak_pieces(pieces: np.ndarray, weight: np.ndarray, need: float) -> np.ndarray:
    """Merge the piece with the least ``weight`` summed over it, while that is below ``need``,
    into the neighbour it shares most border with; labels renumbered 1..k."""
    k = int(pieces.max())
    stuck: set[int] = set()
    while True:
        total = np.bincount(pieces.ravel(), weights=weight.ravel(), minlength=k + 1)
        alive = [p for p in np.unique(pieces[pieces > 0]) if int(p) not in stuck]
        weak = [int(p) for p in alive if total[p] < need]
        if not weak or len(np.unique(pieces[pieces > 0])) <= 1:
            break
        p = min(weak, key=lambda q: total[q])
        ring = ndi.binary_dilation(pieces == p, np.ones((3, 3))) & (pieces != p) & (pieces > 0)
        if ring.any():
            pieces[pieces == p] = np.bincount(pieces[ring]).argmax()
        else:
            stuck.add(p)
    lut = np.zeros(k + 1, np.int32)
    used = np.unique(pieces[pieces > 0])
    lut[used] = np.arange(1, used.size + 1, dtype=np.int32)
    relabelled: np.ndarray = lut[pieces]
    return relabelled


def _relabel_by_group(seeds: np.ndarray) -> np.ndarray:
    """Seed labels renumbered 1..n in raster order of first appearance."""
    flat = seeds.ravel()
    nz = flat[flat > 0]
    if nz.size == 0:
        return seeds.astype(np.int32)
    _, first = np.unique(nz, return_index=True)
    ordered = np.unique(nz)[np.argsort(first)]
    lut = np.zeros(int(seeds.max()) + 1, np.int32)
    lut[ordered] = np.arange(1, ordered.size + 1, dtype=np.int32)
    relabelled: np.ndarray = lut[seeds]
    return relabelled


def _nucleus_mean(intensity: np.ndarray, nucleus: np.ndarray) -> float:
    """Mean intensity of the nucleus pixels (0 for none: no nucleus is not judged here)."""
    return float(intensity[nucleus].mean()) if nucleus.any() else 0.0


#: transmission floor of the optical density (OD 2): a pyknotic nucleus is nearly opaque, and
#: sensor noise around zero must not weigh as infinite absorbance
OD_FLOOR_TRANSMISSION = 0.01


def _od_um2(intensity: np.ndarray, pixel_size_um: float) -> np.ndarray:
    """Per pixel: decadic optical density times the pixel area (OD um^2)."""
    t = np.clip(intensity, OD_FLOOR_TRANSMISSION, None)
    od: np.ndarray = -np.log10(t) * (pixel_size_um * pixel_size_um)
    return od


def nucleus_od_um2(intensity: np.ndarray, nucleus: np.ndarray, pixel_size_um: float) -> float:
    """Integrated optical density of a nucleus: the sum of -log10(transmission) over its
    pixels times the pixel area (OD um^2), the absorbance-cytometry measure of DNA content.

    A nucleus holds a fixed mass of DNA, which absorbs ~35x more per gram than protein at
    260 nm, so by Beer-Lambert its integrated absorbance is the same whether it is small and
    dark (a lymphocyte) or large and pale (a monocyte, whose nucleus transmits up to ~0.7);
    its mean transmission is not (~15 OD um^2 for a healthy nucleus). Debris and platelet
    clumps hold next to no DNA; a red cell's haemoglobin integrates to ~6.
    """
    return float(_od_um2(intensity[nucleus], pixel_size_um).sum())


def _rejection(
    rp: Any, nuc: np.ndarray, intensity: np.ndarray, pixel_size_um: float, s: PostprocessSettings
) -> str | None:
    """The first rule one candidate cell fails (a key of ``Instances.removed``), or None."""
    a_px = pixel_size_um**2
    area = rp.area * a_px
    nucleus = rp.image & nuc[rp.slice]
    if not s.min_cell_area_um2 <= area <= s.max_cell_area_um2:
        return "area"
    if float(nucleus.sum()) * a_px < s.min_nucleus_area_um2:
        return "nucleus_area"
    if rp.solidity < s.min_solidity:
        return "solidity"
    if rp.euler_number < s.min_euler_number:
        return "euler"
    if not s.min_mean_intensity <= rp.intensity_mean <= s.max_mean_intensity:
        return "intensity"
    od = nucleus_od_um2(intensity[rp.slice], nucleus, pixel_size_um)
    if od < s.min_nucleus_od_um2:
        return "nucleus_od"
    pale = _nucleus_mean(intensity[rp.slice], nucleus) > s.max_nucleus_mean_intensity
    if pale and od < s.pale_nucleus_min_od_um2:
        return "nucleus_intensity"  # pale and short of a nucleus's DNA: a red cell, debris
    return None


def instances(
    cell_prob: np.ndarray,
    nucleus_prob: np.ndarray,
    intensity: np.ndarray,
    pixel_size_um: float,
    s: PostprocessSettings,
) -> Instances:
    """Cell instances passing every rule, with their nuclei; ``intensity``: the normalised tile."""
    cell, nuc = clean_masks(cell_prob, nucleus_prob, pixel_size_um, s)
    labels = split_cells(cell, nuc, pixel_size_um, s, intensity)
    removed = dict.fromkeys(REJECTIONS, 0)
    keep: list[int] = []
    for rp in regionprops(labels, intensity_image=intensity):
        why = _rejection(rp, nuc, intensity, pixel_size_um, s)
        if why is None:
            keep.append(rp.label)
        else:
            removed[why] += 1
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[keep] = np.arange(1, len(keep) + 1, dtype=np.int32)
    cells = lut[labels]
    return Instances(cells=cells, nuclei=np.where(nuc, cells, 0).astype(np.int32), removed=removed)
