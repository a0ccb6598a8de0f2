"""The grid a scan planned, read back from its manifest's ``"plan"`` section.

Every reader of a saved scan (analysis, mosaics, report, models, GUI) asks a ``PlanRecord``
(``ScanFolder.plan()``) instead of indexing the manifest's dict, so a missing or damaged
field is refused in one place with one message naming it. Fields are parsed when asked for:
a folder written before a field was recorded (positions, tile shape) still reads, and only a
reader that needs that field is refused. The scan start writes the section
(``uvscope.acquisition.folder_setup.manifest_base``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from uvscope.errors import StorageError


@dataclass(frozen=True)
class PlannedTile:
    """One planned tile: grid index, row, column and stage centre (mm)."""

    index: int
    row: int
    col: int
    x_mm: float
    y_mm: float


@dataclass(frozen=True)
class PlanRecord:
    """A typed view of a manifest's plan; ``where`` names the manifest in every refusal."""

    raw: Mapping[str, Any] = field(default_factory=dict)
    where: str = "manifest.json"

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], where: str = "manifest.json") -> PlanRecord:
        """The manifest's plan; an empty record (nothing planned) where it has none."""
        plan = manifest.get("plan")
        return cls(plan if isinstance(plan, Mapping) else {}, where)

    @property
    def recorded(self) -> bool:
        """The manifest has a plan section at all."""
        return bool(self.raw)

    def _missing(self, key: str) -> StorageError:
        return StorageError(
            f"{self.where}: the scan manifest has no usable plan (no {key!r}); is it complete?"
        )

    def _damaged(self, key: str, err: Exception) -> StorageError:
        return StorageError(
            f"{self.where}: the plan's {key} is damaged ({err}); the scan folder cannot be "
            "read as it is"
        )

    @property
    def tiles(self) -> int:
        """How many tiles were planned (0 where the plan does not say)."""
        try:
            return int(self.raw.get("tiles", 0))
        except (TypeError, ValueError):
            return 0

    @property
    def positions(self) -> tuple[PlannedTile, ...] | None:
        """Every planned tile, in index order as written; None: written before positions
        were recorded."""
        rows = self.raw.get("positions")
        if rows is None:
            return None
        try:
            return tuple(
                PlannedTile(int(i), int(r), int(c), float(x), float(y)) for i, r, c, x, y in rows
            )
        except (TypeError, ValueError) as err:
            raise self._damaged("positions", err) from None

    def planned_tiles(self) -> tuple[PlannedTile, ...]:
        """The planned tiles, refused where the plan does not record them."""
        positions = self.positions
        if positions is None:
            raise self._missing("positions")
        return positions

    def centres_mm(self) -> dict[int, tuple[float, float]]:
        """Tile index -> planned stage centre (mm)."""
        return {t.index: (t.x_mm, t.y_mm) for t in self.planned_tiles()}

    @property
    def pixel_size_um(self) -> float:
        """Pixel size on the sample of the scan's tiles."""
        if self.raw.get("pixel_size_um") is None:
            raise self._missing("pixel_size_um")
        try:
            return float(self.raw["pixel_size_um"])
        except (TypeError, ValueError) as err:
            raise self._damaged("pixel_size_um", err) from None

    @property
    def recorded_pixel_size_um(self) -> float | None:
        """The pixel size where the plan records one (a reader with its own default)."""
        return self.pixel_size_um if self.raw.get("pixel_size_um") else None

    @property
    def wavelengths(self) -> tuple[int, ...]:
        """The scan's wavelengths (nm) in the order it took them; empty where not recorded."""
        try:
            return tuple(int(nm) for nm in self.raw.get("wavelengths") or ())
        except (TypeError, ValueError) as err:
            raise self._damaged("wavelengths", err) from None

    @property
    def tile_shape_px(self) -> tuple[int, int] | None:
        """(height, width) of every tile; None where not recorded or unreadable (a reader
        then takes the shape from the first tile's file)."""
        shape = self.raw.get("tile_shape_px")
        try:
            return (int(shape[0]), int(shape[1])) if shape else None
        except (TypeError, ValueError, IndexError, KeyError):
            return None

    @property
    def fov_mm(self) -> tuple[float, float] | None:
        """Field of view (x, y) of one tile in mm; None where not recorded."""
        fov = self.raw.get("fov_mm")
        try:
            return (float(fov[0]), float(fov[1])) if fov else None
        except (TypeError, ValueError, IndexError, KeyError) as err:
            raise self._damaged("fov_mm", err) from None

    @property
    def bounds_mm(self) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1) of the area the tiles cover; None where not recorded."""
        bounds = self.raw.get("bounds_mm")
        if bounds is None:
            return None
        try:
            x0, y0, x1, y1 = (float(v) for v in bounds)
        except (TypeError, ValueError) as err:
            raise self._damaged("bounds_mm", err) from None
        return (x0, y0, x1, y1)

    def covered_mm(self) -> tuple[float, float, float, float]:
        """``bounds_mm``, refused where the plan does not record it."""
        bounds = self.bounds_mm
        if bounds is None:
            raise self._missing("bounds_mm")
        return bounds

    def without_positions(self) -> dict[str, Any]:
        """The plan as written, less the per-tile positions (what a person reads)."""
        return {k: v for k, v in self.raw.items() if k != "positions"}
