"""One record per cell and the two-stage classification (paper 000, 4.6.2 and 4.7)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from uvscope.analysis.settings import CheckpointSettings
from uvscope.classes import CLASSES, DEAD, PRECLASSES

WAVELENGTH_COLUMNS = (260, 280, 300)


@dataclass
class CellRecord:
    """A segmented WBC: where it is, what it is, how big and how dark."""

    cell_id: str
    tile: int
    label: int
    x_um: float
    y_um: float
    row: float
    col: float
    cell_class: str  # one of CLASSES or PRECLASSES, or "dead"
    dead: bool
    p_dead: float
    p_neutrophil: float
    p_eosinophil: float
    p_basophil: float
    p_lymphocyte: float
    p_monocyte: float
    cell_area_um2: float
    nucleus_area_um2: float
    mean_260: float
    mean_280: float
    mean_300: float
    euler_number: int
    touches_edge: bool
    counted: bool = False
    checkpoint_rescued: bool = False
    #: counted here were the tile not flagged out of focus (so the report can say what it cost)
    excluded_out_of_focus: bool = False
    #: pre-class probabilities (0 from a five-part classifier)
    p_band_neutrophil: float = 0.0
    p_metamyelocyte: float = 0.0
    p_myelocyte: float = 0.0
    p_promyelocyte: float = 0.0
    p_blast: float = 0.0
    p_variant_lymphocyte: float = 0.0
    p_plasma_cell: float = 0.0
    p_nrbc: float = 0.0
    p_smudge: float = 0.0

    def to_row(self) -> dict[str, object]:
        return asdict(self)

    @staticmethod
    def columns() -> list[str]:
        return [f.name for f in fields(CellRecord)]


def looks_healthy(
    cell_area_um2: float,
    nucleus_area_um2: float,
    euler_number: int,
    mean_intensity: float,
    s: CheckpointSettings,
) -> bool:
    """The paper's checkpoint: a dead call is undone when size, topology and darkness fit."""
    frac = nucleus_area_um2 / cell_area_um2 if cell_area_um2 > 0 else 0.0
    return (
        cell_area_um2 >= s.healthy_min_cell_area_um2
        and s.healthy_min_nucleus_fraction <= frac <= s.healthy_max_nucleus_fraction
        and euler_number >= s.healthy_min_euler_number
        and mean_intensity <= s.healthy_max_mean_intensity
    )


def decide(
    p_dead: float,
    p_class: np.ndarray,
    cell_area_um2: float,
    nucleus_area_um2: float,
    euler_number: int,
    mean_intensity: float,
    s: CheckpointSettings,
    checkpoint: bool = True,
    classes: tuple[str, ...] = CLASSES,
) -> tuple[str, bool, bool]:
    """(class, dead, rescued): dead vs healthy, the checkpoint for dead calls, then the class
    head (``classes``: its outputs in order, the five parts then any pre-classes).

    ``checkpoint`` decides whether the checkpoint runs when ``s.enabled`` is None (auto).
    """
    dead = p_dead >= s.dead_threshold
    rescued = False
    if (
        dead
        and (checkpoint if s.enabled is None else s.enabled)
        and looks_healthy(cell_area_um2, nucleus_area_um2, euler_number, mean_intensity, s)
    ):
        dead, rescued = False, True
    name = DEAD if dead else classes[int(np.argmax(p_class))]
    return name, dead, rescued


def preclass_probabilities(p_class: np.ndarray, classes: tuple[str, ...]) -> dict[str, float]:
    """``p_<pre-class>`` fields of a CellRecord from one cell's class probabilities."""
    return {f"p_{c}": float(p) for c, p in zip(classes, p_class, strict=True) if c in PRECLASSES}
