"""The differential count: five classes and the pre-classes with Wilson score intervals, dead
cells, nucleated red cells and smudge cells apart, and the flags they raise.

Every white cell a lab counts is in the 100 %: the five parts, bands (listed apart or with the
neutrophils, as the lab's settings say), the immature granulocytes, blasts, variant
lymphocytes and plasma cells; a healthy smear has none of the pre-classes, so its five parts
read as before. Nucleated red cells are reported per 100 WBC outside the 100 %, as a CBC does,
and smudge cells as a count. The Wilson interval stays inside 0..100 % and behaves at small
counts (a rare basophil), where the normal approximation does not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist

from uvscope.analysis.flags import Flag, ordered
from uvscope.analysis.settings import CLASSES, DifferentialSettings
from uvscope.classes import BAND, BLAST, IMMATURE_GRANULOCYTES, NRBC, PRECLASSES, SMUDGE

#: pre-classes counted apart from the 100 % of white cells
APART: tuple[str, ...] = (NRBC, SMUDGE)
#: pre-classes inside the 100 %, in the report's order
IN_DIFFERENTIAL: tuple[str, ...] = tuple(c for c in PRECLASSES if c not in APART)
#: every class the counter accepts besides "dead"
COUNTABLE: tuple[str, ...] = (*CLASSES, *PRECLASSES)

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
    #: pre-classes in the 100 % (bands only when listed apart), same percent base as ``classes``
    preclasses: tuple[ClassCount, ...] = ()
    #: meta-, myelo- and promyelocytes together: the IG %
    immature_granulocytes: ClassCount | None = None
    #: nucleated red cells (outside the 100 %) and per 100 WBC
    nrbc: int = 0
    nrbc_per_100_wbc: float = 0.0
    #: smudge cells (outside the 100 %)
    smudge: int = 0
    bands_with_neutrophils: bool = False
    #: findings (blasts: critical; immature granulocytes above the lab's share), critical first
    flags: tuple[Flag, ...] = ()

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
        """Every row in the 100 %: the five parts and the pre-classes reported apart."""
        return {c.name: c for c in (*self.classes, *self.preclasses)}


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
    rules: DifferentialSettings = field(default_factory=DifferentialSettings)
    #: pre-classified cells, apart classes (nucleated red cells, smudge cells) included
    precounts: dict[str, int] = field(default_factory=lambda: {c: 0 for c in PRECLASSES})

    def add(self, cell_class: str, dead: bool) -> None:
        if dead:
            self.dead += 1
        elif cell_class in self.counts:
            self.counts[cell_class] += 1
        elif cell_class in self.precounts:
            self.precounts[cell_class] += 1
        else:
            raise ValueError(f"unknown class {cell_class!r}; expected one of {COUNTABLE}")

    @property
    def healthy(self) -> int:
        """White cells in the 100 % (the stop rule counts these)."""
        return sum(self.counts.values()) + sum(self.precounts[c] for c in IN_DIFFERENTIAL)

    def should_stop(self) -> bool:
        """True once the optional stop rule's number of healthy WBCs has been counted."""
        return self.stop_after_wbc is not None and self.healthy >= self.stop_after_wbc

    def tile_done(self) -> None:
        """After each analysed tile's cells are added: note when the stop rule was reached."""
        if self.stop_reached_after_tiles is None and self.should_stop():
            self.stop_reached_after_tiles = self.tiles_analysed

    def _row(self, name: str, k: int, n: int) -> ClassCount:
        lo, hi = wilson_interval(k, n, self.confidence)
        return ClassCount(name, k, 100.0 * k / n if n else 0.0, 100.0 * lo, 100.0 * hi)

    def snapshot(self) -> Differential:
        n = self.healthy
        merge_bands = self.rules.bands_with_neutrophils
        five = dict(self.counts)
        if merge_bands:
            five["neutrophil"] += self.precounts[BAND]
        listed = [c for c in IN_DIFFERENTIAL if not (merge_bands and c == BAND)]
        ig = sum(self.precounts[c] for c in IMMATURE_GRANULOCYTES)
        ig_row = self._row("immature_granulocytes", ig, n)
        nrbc = self.precounts[NRBC]
        return Differential(
            classes=tuple(self._row(name, five[name], n) for name in CLASSES),
            preclasses=tuple(self._row(c, self.precounts[c], n) for c in listed),
            immature_granulocytes=ig_row,
            nrbc=nrbc,
            nrbc_per_100_wbc=100.0 * nrbc / n if n else 0.0,
            smudge=self.precounts[SMUDGE],
            bands_with_neutrophils=merge_bands,
            flags=tuple(preclass_flags(self.precounts[BLAST], ig_row, n, self.rules)),
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


def preclass_flags(blasts: int, ig: ClassCount, n: int, rules: DifferentialSettings) -> list[Flag]:
    """Blasts seen (critical) and immature granulocytes above the lab's share."""
    out = []
    if blasts >= rules.blast_flag_count:
        out.append(
            Flag(
                "blasts",
                f"Blasts seen: {blasts} of {n} WBCs ({100.0 * blasts / max(n, 1):.1f} %); "
                "review the smear",
                f"at least {rules.blast_flag_count} blast counted",
                critical=True,
            )
        )
    if n and ig.percent > rules.ig_flag_percent:
        out.append(
            Flag(
                "immature_granulocytes",
                f"Immature granulocytes {ig.percent:.1f} % ({ig.count} of {n} WBCs; 95 % CI "
                f"{ig.ci_low_percent:.1f}-{ig.ci_high_percent:.1f} %)",
                f"IG above {rules.ig_flag_percent:g} % of WBCs",
            )
        )
    return ordered(out)
