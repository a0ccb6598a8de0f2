"""Built-in reference cells drawn from the simulator, with their true class.

uvscope's classifier is trained on simulated cells, so its built-in references are simulated
too: per class, the cells whose diameter lies nearest the class's median and whose crop holds
no other white cell, shown as the gallery shows a cell (stained crop beside the 260 nm crop,
gray scaled as the gallery scales it). ``scripts/make_reference_cells.py`` writes them into
``uvscope/models/reference_images``; ``uvscope.models.reference_cells`` reads them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from uvscope.classes import DEAD
from uvscope.config import CameraConfig, SimConfig
from uvscope.models.reference_cells import PER_CLASS
from uvscope.models.simgen import PRECLASS_DONORS
from uvscope.sim.world import CellRecord, SimWorld

#: side of each half (stained, gray) of a built-in reference, in pixels
CROP_PX = 64
_FIELD_PX = 176  #: the simulated field around a cell: room for a blast and its margin
_MARGIN_PX = 6


def _square(labels: np.ndarray, cell_id: int) -> tuple[slice, slice] | None:
    """A square around the cell with a margin, inside the field; None when cut by the edge or
    shared with another white cell (not a clean example)."""
    rows, cols = np.nonzero(labels == cell_id)
    if rows.size == 0:
        return None
    half = max(int(np.ptp(rows)), int(np.ptp(cols))) // 2 + _MARGIN_PX
    rc, cc = (rows.min() + rows.max()) // 2, (cols.min() + cols.max()) // 2
    r0, c0 = rc - half, cc - half
    if r0 < 0 or c0 < 0 or rc + half > labels.shape[0] or cc + half > labels.shape[1]:
        return None
    box = (slice(r0, rc + half), slice(c0, cc + half))
    others = np.unique(labels[box])
    return box if set(others.tolist()) <= {0, cell_id} else None


def _resized(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((CROP_PX, CROP_PX), Image.Resampling.BILINEAR))


class _Renderer:
    """One simulated slide's fields, normalised as the scan normalises them (flat, dark)."""

    def __init__(self, donor: str, seed: int) -> None:
        self.world = SimWorld(
            SimConfig(seed=seed, donor=donor), CameraConfig(width_px=_FIELD_PX, height_px=_FIELD_PX)
        )
        self.rng = np.random.default_rng(seed)
        self.exposure_ms = self.world.suggest_exposure_ms(260)
        bx, by = self.world.blank_position_mm()
        bz = self.world.best_focus_um(bx, by)
        self.flat = self.world.render(bx, by, bz, 260, self.exposure_ms, self.rng).astype(float)
        self.dark = self.world.render(bx, by, bz, None, self.exposure_ms, self.rng).astype(float)

    def cells(self) -> list[CellRecord]:
        cx, cy = self.world.smear_centre_mm()
        return self.world.cells_in_region(cx - 4, cy - 4, cx + 4, cy + 4)

    def crop(self, cell: CellRecord) -> np.ndarray | None:
        """Stained crop beside the 260 nm crop (gray as the gallery scales it), or None."""
        x, y = cell.centroid_mm
        truth = self.world.ground_truth(x, y)
        box = _square(truth.cell_labels, cell.id)
        if box is None:
            return None
        raw = self.world.render(
            x, y, self.world.best_focus_um(x, y), 260, self.exposure_ms, self.rng
        )
        norm = (raw - self.dark) / np.maximum(self.flat - self.dark, 1.0)
        gray = (np.clip(norm[box], 0.0, 1.1) * (255.0 / 1.1)).astype(np.uint8)
        stained = _resized(truth.stained_rgb[box])
        return np.concatenate([stained, np.repeat(_resized(gray)[..., None], 3, axis=2)], axis=1)


def _typical_first(cells: list[CellRecord]) -> list[CellRecord]:
    """Cells ordered by how far their diameter lies from the class's median."""
    median = float(np.median([c.diameter_um for c in cells]))
    return sorted(cells, key=lambda c: (abs(c.diameter_um - median), c.id))


def render_reference_cells(
    per_class: int = PER_CLASS, seed: int = 11
) -> dict[str, list[np.ndarray]]:
    """Typical simulated cells of every class the simulator draws, with their true class:
    a healthy slide first, then the donors that carry the pre-classes."""
    out: dict[str, list[np.ndarray]] = {}
    for donor in ("healthy", *PRECLASS_DONORS):
        renderer = _Renderer(donor, seed)
        groups: dict[str, list[CellRecord]] = {}
        for c in renderer.cells():
            groups.setdefault(DEAD if c.dead else c.kind, []).append(c)
        for cls, cells in sorted(groups.items()):
            have = out.setdefault(cls, [])
            for c in _typical_first(cells):
                if len(have) >= per_class:
                    break
                crop = renderer.crop(c)
                if crop is not None:
                    have.append(crop)
    return {cls: images for cls, images in out.items() if images}
