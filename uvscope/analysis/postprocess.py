"""Mask post-processing (paper 000, 4.5.4) and cell instances.

Steps: threshold -> opening -> nuclei outside cells removed -> cells without a nucleus removed
-> touching cells split by a watershed seeded by their nuclei (lobes of one nucleus merged
first, so a neutrophil is not cut into pieces) -> per-cell thresholds on area, solidity, Euler
number and mean intensity. Labels come out numbered 1..n in raster order of their seeds, so the
same input always gives the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label, regionprops
from skimage.morphology import disk
from skimage.segmentation import watershed

from uvscope.analysis.settings import PostprocessSettings


@dataclass
class Instances:
    """Cell and nucleus label images of one tile (nucleus labels equal their cell's label)."""

    cells: np.ndarray  # int32 (H, W), 0 background
    nuclei: np.ndarray  # int32 (H, W), nucleus pixels carry their cell's label
    removed: dict[str, int]  # why instances were dropped, for the log and the report

    @property
    def count(self) -> int:
        return int(self.cells.max()) if self.cells.size else 0


def _open(mask: np.ndarray, radius_px: int) -> np.ndarray:
    return ndi.binary_opening(mask, disk(radius_px)) if radius_px >= 1 else mask


def clean_masks(
    cell_prob: np.ndarray,
    nucleus_prob: np.ndarray,
    pixel_size_um: float,
    s: PostprocessSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Binary cell and nucleus masks after opening and the joint cell/nucleus rule."""
    r = int(round(s.opening_radius_um / pixel_size_um))
    cell = _open(cell_prob >= s.cell_threshold, r)
    nuc = _open(nucleus_prob >= s.nucleus_threshold, r)
    # nuclei without a cell: drop nucleus components that do not touch a cell, clip the rest
    nlab, n = ndi.label(nuc)
    if n:
        inside = ndi.maximum(cell, nlab, index=np.arange(1, n + 1))
        keep = np.concatenate([[False], np.asarray(inside, bool)])
        nuc = keep[nlab] & cell
    # cells without a nucleus
    clab, m = ndi.label(cell)
    if m:
        has = ndi.maximum(nuc, clab, index=np.arange(1, m + 1))
        keep = np.concatenate([[False], np.asarray(has, bool)])
        cell = keep[clab]
    return cell, nuc & cell


def split_cells(
    cell: np.ndarray, nuc: np.ndarray, pixel_size_um: float, gap_um: float
) -> np.ndarray:
    """Label cells, splitting touching ones with a watershed seeded by their (merged) nuclei."""
    gap = int(round(gap_um / pixel_size_um / 2))
    grouped = ndi.binary_dilation(nuc, disk(gap)) & cell if gap >= 1 else nuc
    seeds = _relabel_by_group(label(grouped, connectivity=2) * nuc)  # lobes share one seed
    dist = ndi.distance_transform_edt(cell)
    return watershed(-dist, markers=seeds, mask=cell).astype(np.int32)


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
    return lut[seeds]


def instances(
    cell_prob: np.ndarray,
    nucleus_prob: np.ndarray,
    intensity: np.ndarray,
    pixel_size_um: float,
    s: PostprocessSettings,
) -> Instances:
    """Cell instances passing every rule, with their nuclei; ``intensity``: the normalised tile."""
    cell, nuc = clean_masks(cell_prob, nucleus_prob, pixel_size_um, s)
    labels = split_cells(cell, nuc, pixel_size_um, s.nucleus_merge_gap_um)
    a_px = pixel_size_um**2
    removed = {"area": 0, "nucleus_area": 0, "solidity": 0, "euler": 0, "intensity": 0}
    keep: list[int] = []
    for rp in regionprops(labels, intensity_image=intensity):
        area = rp.area * a_px
        nuc_area = float(nuc[rp.slice][rp.image].sum()) * a_px
        if not s.min_cell_area_um2 <= area <= s.max_cell_area_um2:
            removed["area"] += 1
        elif nuc_area < s.min_nucleus_area_um2:
            removed["nucleus_area"] += 1
        elif rp.solidity < s.min_solidity:
            removed["solidity"] += 1
        elif rp.euler_number < s.min_euler_number:
            removed["euler"] += 1
        elif not s.min_mean_intensity <= rp.intensity_mean <= s.max_mean_intensity:
            removed["intensity"] += 1
        else:
            keep.append(rp.label)
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[keep] = np.arange(1, len(keep) + 1, dtype=np.int32)
    cells = lut[labels]
    return Instances(cells=cells, nuclei=np.where(nuc, cells, 0).astype(np.int32), removed=removed)
