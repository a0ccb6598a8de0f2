"""A tiny synthetic slide and fake networks for pipeline tests (not the networks under test).

Cells are disks whose radius encodes their class; the fake segmenter thresholds the stretched
image, the fake classifier reads the cell's area from the composite crop. So the pipeline's
plumbing (resampling, blending, post-processing, de-duplication, counting) is tested against an
exact ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.analysis.models import ModelSet
from uvscope.analysis.settings import CLASSES
from uvscope.geometry import pixel_to_stage_mm

CLASS_RADIUS_UM = {
    "neutrophil": 4.5,
    "eosinophil": 5.5,
    "basophil": 3.0,
    "lymphocyte": 3.8,
    "monocyte": 6.5,
}
NUCLEUS_FRACTION = 0.55  # nucleus radius / cell radius


@dataclass(frozen=True)
class SynthCell:
    x_um: float
    y_um: float
    cls: str
    dead: bool = False

    @property
    def radius_um(self) -> float:
        return CLASS_RADIUS_UM[self.cls]


def random_slide(
    n: int,
    x_range_um: tuple[float, float],
    y_range_um: tuple[float, float],
    seed: int = 0,
    min_gap_um: float = 3.0,
) -> list[SynthCell]:
    """Non-overlapping cells of random classes, placed uniformly."""
    rng = np.random.default_rng(seed)
    cells: list[SynthCell] = []
    tries = 0
    while len(cells) < n and tries < 100 * n:
        tries += 1
        c = SynthCell(
            float(rng.uniform(*x_range_um)),
            float(rng.uniform(*y_range_um)),
            CLASSES[int(rng.integers(0, 5))],
        )
        if all(
            np.hypot(c.x_um - o.x_um, c.y_um - o.y_um) > c.radius_um + o.radius_um + min_gap_um
            for o in cells
        ):
            cells.append(c)
    return cells


def render(
    cells: list[SynthCell],
    center_mm: tuple[float, float],
    shape: tuple[int, int],
    px_um: float,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Normalised transmission: background 1.0, cytoplasm 0.7, nucleus 0.4 (dead: 0.85/0.75)."""
    h, w = shape
    rr, cc = np.mgrid[0:h, 0:w]
    x_mm, y_mm = pixel_to_stage_mm(rr, cc, center_mm, shape, px_um)
    x, y = np.asarray(x_mm) * 1e3, np.asarray(y_mm) * 1e3
    img = np.ones(shape, np.float32)
    for c in cells:
        d = np.hypot(x - c.x_um, y - c.y_um)
        if d.min() > c.radius_um + 1:
            continue
        img[d <= c.radius_um] = 0.85 if c.dead else 0.7
        img[d <= c.radius_um * NUCLEUS_FRACTION] = 0.75 if c.dead else 0.4
    if noise:
        img = img + np.random.default_rng(seed).normal(0, noise, shape).astype(np.float32)
    return img


def make_tile(
    spec: TileSpec,
    cells: list[SynthCell],
    shape: tuple[int, int],
    px_um: float,
    error_um: tuple[float, float] = (0.0, 0.0),
    nms: tuple[int, ...] = (260,),
) -> Tile:
    """A tile imaged at the planned position plus ``error_um``; it reports the planned one."""
    true = (spec.x_mm + error_um[0] * 1e-3, spec.y_mm + error_um[1] * 1e-3)
    img = render(cells, true, shape, px_um)
    norm = {nm: img * (1.0 if nm == 260 else 0.9) for nm in nms}
    return Tile(
        spec=spec,
        x_mm=spec.x_mm,
        y_mm=spec.y_mm,
        z_um=0.0,
        pixel_size_um=px_um,
        raw={nm: (v * 10000).astype(np.uint16) for nm, v in norm.items()},
        normalised=norm,
        exposure_ms={nm: 10.0 for nm in nms},
        acquired_at_s=0.0,
    )


def grid_specs(
    rows: int,
    cols: int,
    shape: tuple[int, int],
    px_um: float,
    overlap: float,
    origin_mm: tuple[float, float] = (10.0, 10.0),
) -> list[TileSpec]:
    step_x = shape[1] * px_um * 1e-3 * (1 - overlap)
    step_y = shape[0] * px_um * 1e-3 * (1 - overlap)
    specs = []
    for r in range(rows):
        for k in range(cols):
            c = k if r % 2 == 0 else cols - 1 - k  # serpentine
            specs.append(
                TileSpec(len(specs), r, c, origin_mm[0] + c * step_x, origin_mm[1] + r * step_y)
            )
    return specs


class FakeSegmenter:
    """Cells darker than 0.8, nuclei darker than 0.25 in the stretched image (soft edges)."""

    def __init__(self, pixel_size_um: float = 0.32, patch_size: int | None = 64) -> None:
        self.pixel_size_um = pixel_size_um
        self.patch_size = patch_size
        self.calls = 0

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        cell = np.clip((0.85 - batch) * 10 + 0.5, 0, 1)
        nuc = np.clip((0.3 - batch) * 10 + 0.5, 0, 1)
        return cell.astype(np.float32), nuc.astype(np.float32)


class FakeStainer:
    def __init__(self, pixel_size_um: float = 0.32, patch_size: int | None = 64) -> None:
        self.pixel_size_um = pixel_size_um
        self.patch_size = patch_size

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.stack([0.6 + 0.4 * batch, batch, 0.5 + 0.5 * batch], axis=-1).astype(np.float32)


class FakeClassifier:
    """Class from the cell area in the crop (B = cell mask * 0.5); dead without a nucleus."""

    def __init__(self, crop_size: int = 48, pixel_size_um: float = 0.32) -> None:
        self.crop_size = crop_size
        self.pixel_size_um = pixel_size_um

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        area_um2 = (crops[:, 2] > 0.25).sum(axis=(1, 2)) * self.pixel_size_um**2
        radius = np.sqrt(area_um2 / np.pi)
        ref = np.array([CLASS_RADIUS_UM[c] for c in CLASSES])
        d = np.abs(radius[:, None] - ref[None, :])
        logits = -d * 8
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        nuc = (crops[:, 0] > 0.25).sum(axis=(1, 2)).astype(np.float32)
        cell = np.maximum((crops[:, 2] > 0.25).sum(axis=(1, 2)), 1).astype(np.float32)
        p_dead = np.where(nuc / cell < 0.05, 0.9, 0.1).astype(np.float32)
        return p_dead, p.astype(np.float32)


def fake_models(seg_px: float = 0.32, patch: int | None = 64, crop: int = 48) -> ModelSet:
    return ModelSet(
        FakeSegmenter(seg_px, patch),
        FakeStainer(seg_px, patch),
        FakeClassifier(crop, seg_px),
        provenance={"segmenter": "fake-threshold", "stainer": "fake", "classifier": "fake-area"},
    )
