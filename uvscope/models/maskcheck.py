"""Is a lab's own labelled data probably what it says? Checks on the masks' geometry.

Two mistakes pass every format check and still ruin a model: masks whose two codes are
swapped (255 drawn for the cytoplasm), and a wrong pixel size. Both show in the masks
themselves. A nucleus lies inside its cell, so it covers only a share of the cell (in white
cells a median of 20-60 %) and almost none of the cell's outline (the Zheng et al. masks in
../shared/data: median share 0.37, outline 0 % in all 300); swapped codes give the opposite
(0.63 and 100 %). And white cells measure about 7-20 um across, so the masks' median cell at
the stated pixel size tells whether that size can be right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from uvscope.errors import ModelError

#: a median white cell (equivalent diameter) outside this range means a wrong pixel size
WBC_DIAMETER_UM = (5.0, 22.0)
#: a dataset's median cell this many times larger or smaller than the training data's
CELL_SIZE_FACTOR = 1.5


@dataclass
class MaskGeometry:
    """One image's masks: nucleus area over cell area, the share of the cells' outline that
    is nucleus (None: no cell), and each cell's area in pixels."""

    nucleus_ratio: float | None
    outline_nucleus_share: float | None
    cell_areas_px: list[int] = field(default_factory=list)


def _cells_and_nucleus(layout: str, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(cell label image, nucleus bool), read as ``owndata.item_masks`` reads them."""
    if layout == "class-mask":
        m = arrays[0]
        top = 255 if m.max() > 2 else 2
        labels, _ = ndimage.label(m > 0)
        return labels, m == top
    cells, nuc = arrays[0], arrays[1] > 0
    if cells.dtype == bool or cells.max() <= 1:
        labels, _ = ndimage.label(cells > 0)
        return labels, nuc
    return cells.astype(np.int64), nuc


def mask_geometry(layout: str, arrays: list[np.ndarray]) -> MaskGeometry:
    labels, nuc = _cells_and_nucleus(layout, arrays)
    cell = labels > 0
    n_cell = int(cell.sum())
    if n_cell == 0:
        return MaskGeometry(None, None)
    # the outline against background only (4-neighbours): the image edge counts as cell, so
    # a cell cut by the edge has no outline there
    inside = np.pad(cell, 1, constant_values=True)
    touches = ~inside[:-2, 1:-1] | ~inside[2:, 1:-1] | ~inside[1:-1, :-2] | ~inside[1:-1, 2:]
    outline = cell & touches
    n_outline = int(outline.sum())
    counts = np.bincount(labels[cell].ravel())
    return MaskGeometry(
        float(nuc.sum()) / n_cell,
        float((outline & nuc).sum()) / n_outline if n_outline else 0.0,
        [int(c) for c in counts[counts > 0]],
    )


def check_codes(where: Path, layout: str, geometry: list[MaskGeometry]) -> None:
    """Refuse masks whose nucleus and cytoplasm are swapped (ModelError naming ``where``)."""
    ratios = [g.nucleus_ratio for g in geometry if g.nucleus_ratio is not None]
    shares = [g.outline_nucleus_share for g in geometry if g.outline_nucleus_share is not None]
    if not ratios:
        return
    ratio, share = float(np.median(ratios)), float(np.median(shares))
    if layout == "class-mask" and ratio > 0.5 and share > 0.5:
        raise ModelError(
            f"{where}: the masks look swapped: the nucleus code (255, or 2) covers {share:.0%} "
            f"of the cells' outlines and {ratio:.0%} of each cell (medians over {len(ratios)} "
            "masks), where a nucleus lies inside its cytoplasm (in white cells 20-60% of the "
            "cell, off its outline). Save the nucleus as 255 (or 2) and the cytoplasm as 128 "
            "(or 1), then run again"
        )
    if layout == "cells-nuclei" and ratio > 1.05:
        raise ModelError(
            f"{where}: nuclei/ covers {ratio:.0%} of the area of cells/ (median over "
            f"{len(ratios)} images): the two folders look swapped; a nucleus lies inside its "
            "cell. Swap cells/ and nuclei/, then run again"
        )


def median_diameter_um(geometry: list[MaskGeometry], pixel_size_um: float) -> float | None:
    """The median cell's equivalent diameter in um (None: no cell in any mask)."""
    areas = [a for g in geometry for a in g.cell_areas_px]
    if not areas:
        return None
    return float(2 * math.sqrt(float(np.median(areas)) / math.pi) * pixel_size_um)


def cell_size_problem(
    diameter_um: float | None, pixel_size_um: float, reference_um: float | None = None
) -> str | None:
    """Why the cells' size says the pixel size is probably wrong, or None.

    ``reference_um``: the median cell of the data a model was trained on (its card), else
    white cells' usual size (``WBC_DIAMETER_UM``) is the yardstick."""
    if diameter_um is None:
        return None
    lo, hi = WBC_DIAMETER_UM
    if reference_um:
        factor = diameter_um / reference_um
        if 1 / CELL_SIZE_FACTOR <= factor <= CELL_SIZE_FACTOR:
            return None
        against = f"{reference_um:.1f} um in the model's training data"
    elif lo <= diameter_um <= hi:
        return None
    else:
        factor = diameter_um / (12.0 if diameter_um > hi else 8.0)
        against = f"white cells' usual {lo:g}-{hi:g} um"
    return (
        f"at {pixel_size_um:g} um/px the masks' median cell measures {diameter_um:.1f} um "
        f"across, against {against}: the pixel size is probably wrong (about "
        f"{pixel_size_um / factor:.3g} um/px would match); set pixel_size_um in "
        "dataset.toml or --pixel-size-um"
    )
