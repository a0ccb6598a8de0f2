"""The differential count: five classes with Wilson score intervals, dead cells apart.

The Wilson interval stays inside 0..100 % and behaves at small counts (a rare basophil),
where the normal approximation does not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist

from uvscope.analysis.settings import CLASSES

#: tiles (or cells) left out of counting above this fraction are warned about
EXCLUDED_WARN_FRACTION = 0.03
#: fewer healthy WBCs than this make a differential too coarse to report without a warning
MIN_RELIABLE_WBC = 100


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
    #: cells those tiles would have counted
    cells_out_of_focus: int = 0
    #: tiles analysed when the stop rule's count was first reached (None: not reached)
    stop_reached_after_tiles: int | None = None

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["warnings"] = self.warnings()
        d["stop_rule"] = self.stop_rule_text()
        return d

    @property
    def stop_rule_reached(self) -> bool:
        return self.stop_reached_after_tiles is not None

    def warnings(self, final: bool = True) -> list[str]:
        """What a reader of this differential must know before trusting it.

        ``final``: the scan has ended (a stop rule not reached is then a fact, not a state).
        """
        out: list[str] = []
        n_tiles = self.tiles_analysed
        if n_tiles and self.tiles_out_of_focus / n_tiles > EXCLUDED_WARN_FRACTION:
            out.append(
                f"{self.tiles_out_of_focus} of {n_tiles} tiles "
                f"({100 * self.tiles_out_of_focus / n_tiles:.0f} %) were out of focus and left "
                f"out of counting ({self.cells_out_of_focus} cells); the differential covers "
                "only the tiles in focus: check the focus settings"
            )
        elif self.cells_out_of_focus and self.cells_out_of_focus > EXCLUDED_WARN_FRACTION * max(
            self.healthy + self.dead + self.cells_out_of_focus, 1
        ):
            out.append(
                f"{self.cells_out_of_focus} cells in {self.tiles_out_of_focus} out-of-focus "
                "tiles were left out of counting"
            )
        target = self.stop_after_wbc
        if final and target is not None and not self.stop_rule_reached:
            out.append(
                f"stop rule not reached: {target} healthy WBCs asked, {self.healthy} counted "
                f"in the whole region ({n_tiles} tiles); enlarge the region for a full "
                "differential"
            )
        if final and self.healthy < MIN_RELIABLE_WBC:
            out.append(
                f"only {self.healthy} healthy WBC{'s' if self.healthy != 1 else ''} counted: a "
                f"differential needs at least {MIN_RELIABLE_WBC} (the intervals say how wide)"
            )
        if self.tiles_failed:
            out.append(f"{self.tiles_failed} tiles failed analysis and were not counted")
        return out

    def stop_rule_text(self) -> str | None:
        """One line on the stop rule, or None when the scan had none."""
        if self.stop_after_wbc is None:
            return None
        if self.stop_reached_after_tiles is None:
            return (
                f"stop rule: {self.stop_after_wbc} healthy WBCs not reached "
                f"({self.healthy} in {self.tiles_analysed} tiles)"
            )
        extra = self.tiles_analysed - self.stop_reached_after_tiles
        lag = (
            f"; {extra} tile{'s' if extra != 1 else ''} acquired meanwhile analysed too"
            if extra > 0
            else ""
        )
        return (
            f"stop rule: {self.stop_after_wbc} healthy WBCs reached after "
            f"{self.stop_reached_after_tiles} tiles{lag}: {self.healthy} counted"
        )

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
    cells_out_of_focus: int = 0
    stop_reached_after_tiles: int | None = None

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

    def tile_done(self) -> None:
        """After each analysed tile's cells are added: note when the stop rule was reached."""
        if self.stop_reached_after_tiles is None and self.should_stop():
            self.stop_reached_after_tiles = self.tiles_analysed

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
            cells_out_of_focus=self.cells_out_of_focus,
            stop_reached_after_tiles=self.stop_reached_after_tiles,
        )
