"""The differential count: five classes with Wilson score intervals, dead cells apart.

The Wilson interval stays inside 0..100 % and behaves at small counts (a rare basophil),
where the normal approximation does not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist

from uvscope.analysis.settings import CLASSES


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (as fractions); (0, 1) when n == 0."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class ClassCount:
    name: str
    count: int
    percent: float
    ci_low_percent: float
    ci_high_percent: float


@dataclass(frozen=True)
class Differential:
    """A snapshot of the running count."""

    classes: tuple[ClassCount, ...]
    healthy: int
    dead: int
    tiles_analysed: int
    tiles_failed: int
    confidence: float
    stop_after_wbc: int | None = None
    #: tiles the scan flagged out of focus: analysed, their cells not counted
    tiles_out_of_focus: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def by_name(self) -> dict[str, ClassCount]:
        return {c.name: c for c in self.classes}


@dataclass
class DifferentialCounter:
    """Accumulates counted cells; ``should_stop()`` is the engine's stop rule."""

    confidence: float = 0.95
    stop_after_wbc: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CLASSES})
    dead: int = 0
    tiles_analysed: int = 0
    tiles_failed: int = 0
    tiles_out_of_focus: int = 0

    def add(self, cell_class: str, dead: bool) -> None:
        if dead:
            self.dead += 1
        elif cell_class in self.counts:
            self.counts[cell_class] += 1
        else:
            raise ValueError(f"unknown class {cell_class!r}; expected one of {CLASSES}")

    @property
    def healthy(self) -> int:
        return sum(self.counts.values())

    def should_stop(self) -> bool:
        """True once the optional stop rule's number of healthy WBCs has been counted."""
        return self.stop_after_wbc is not None and self.healthy >= self.stop_after_wbc

    def snapshot(self) -> Differential:
        n = self.healthy
        rows = []
        for name in CLASSES:
            k = self.counts[name]
            lo, hi = wilson_interval(k, n, self.confidence)
            rows.append(ClassCount(name, k, 100.0 * k / n if n else 0.0, 100.0 * lo, 100.0 * hi))
        return Differential(
            classes=tuple(rows),
            healthy=n,
            dead=self.dead,
            tiles_analysed=self.tiles_analysed,
            tiles_failed=self.tiles_failed,
            confidence=self.confidence,
            stop_after_wbc=self.stop_after_wbc,
            tiles_out_of_focus=self.tiles_out_of_focus,
        )
