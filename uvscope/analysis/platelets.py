"""Platelets of one tile: small, weakly absorbing protein/RNA objects, single or clumped.

A platelet absorbs at 260 nm through its protein and its RNA-rich granular centre, far less
per area than a red cell's haemoglobin, and has no nucleus. Objects between
``platelet_min_area_um2`` and ``platelet_max_area_um2`` that are not red cells are platelets;
one whose integrated OD is that of two or more platelets is a clump, reported with its
estimated count (a clump is never counted as one platelet).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class PlateletRecord:
    """One platelet or clump."""

    platelet_id: str
    tile: int
    x_um: float
    y_um: float
    area_um2: float
    integrated_od_um2: float
    clump: bool
    #: platelets in the object (1 for a single one)
    platelets_estimated: int
    counted: bool

    @staticmethod
    def columns() -> list[str]:
        return [f.name for f in fields(PlateletRecord)]

    def to_row(self) -> dict[str, object]:
        return asdict(self)


def platelets_in(integrated_od_um2: float, single_od_um2: float) -> int:
    """Platelets an object holds, from its integrated OD (at least one)."""
    return max(1, int(round(integrated_od_um2 / single_od_um2)))
