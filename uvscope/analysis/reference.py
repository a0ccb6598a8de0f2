"""Adult reference intervals of the white-cell differential and the flags they raise.

A lab reports each class against its own reference interval: H above it, L below it, as
percent of WBCs and, when the sample's WBC count (per µL, from the analyser's CBC) is known,
as absolute counts. Band neutrophils are counted with the neutrophils (the interval is for
all neutrophils) and shown apart; blasts (and any class the lab names critical) raise a
critical finding whatever the count: a lab calls those through. The defaults are textbook
adult ranges; every lab replaces them with its own verified ones in its settings file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator

from uvscope.analysis.differential import IN_DIFFERENTIAL
from uvscope.analysis.flags import Flag
from uvscope.classes import CLASSES, PRECLASSES
from uvscope.config import Model, load_toml

BAND = "band_neutrophil"
NEUTROPHIL = "neutrophil"

#: where the default intervals come from (said in the GUI and the report); bands 0-5 % is a
#: commonly used range, and the eosinophil and basophil lower limits are left open (see
#: ``_defaults``); docs/lab-bench.md says so
DEFAULT_SOURCE = "Dacie and Lewis Practical Haematology, 12th ed. (2017), adult"


class Interval(Model):
    """One class's reference interval; None: no limit on that side (no flag)."""

    low_percent: float | None = Field(None, ge=0, le=100)
    high_percent: float | None = Field(None, ge=0, le=100)
    low_per_ul: float | None = Field(None, ge=0, description="absolute, cells per µL")
    high_per_ul: float | None = Field(None, ge=0, description="absolute, cells per µL")

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        for lo, hi in (
            (self.low_percent, self.high_percent),
            (self.low_per_ul, self.high_per_ul),
        ):
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"the low limit {lo} is above the high limit {hi}")
        return self

    def text(self, absolute: bool = False) -> str:
        lo, hi = (
            (self.low_per_ul, self.high_per_ul)
            if absolute
            else (self.low_percent, self.high_percent)
        )
        if lo is None and hi is None:
            return ""
        if lo is None:
            return f"<= {hi:g}"
        if hi is None:
            return f">= {lo:g}"
        return f"{lo:g}-{hi:g}"


def _defaults() -> dict[str, Interval]:
    return {
        "neutrophil": Interval(low_percent=40, high_percent=80, low_per_ul=2000, high_per_ul=7000),
        "lymphocyte": Interval(low_percent=20, high_percent=40, low_per_ul=1000, high_per_ul=3000),
        "monocyte": Interval(low_percent=2, high_percent=10, low_per_ul=200, high_per_ul=1000),
        # no lower limit (as most labs): a 100-200 cell count cannot measure a low eosinophil
        # or basophil count, and none means nothing on its own
        "eosinophil": Interval(high_percent=6, high_per_ul=500),
        "basophil": Interval(high_percent=2, high_per_ul=100),
        BAND: Interval(low_percent=0, high_percent=5),
    }


class ReferenceIntervals(Model):
    """A lab's reference intervals (the ``[reference]`` table of its settings file)."""

    source: str = Field(DEFAULT_SOURCE, description="Where these intervals come from")
    intervals: dict[str, Interval] = Field(default_factory=_defaults)
    #: classes whose presence is a critical finding (a lab calls it through)
    critical_classes: tuple[str, ...] = ("blast", "promyelocyte")
    #: classes whose presence is flagged (not critical): immature and atypical cells
    abnormal_classes: tuple[str, ...] = (
        "metamyelocyte",
        "myelocyte",
        "variant_lymphocyte",
        "plasma_cell",
        "nrbc",
    )

    @model_validator(mode="after")
    def _known(self) -> ReferenceIntervals:
        known = set(CLASSES) | set(PRECLASSES)
        for name in (*self.intervals, *self.critical_classes, *self.abnormal_classes):
            if name not in known:
                raise ValueError(f"{name!r} is not a class; use one of {', '.join(sorted(known))}")
        return self


def load_reference(path: str | Path) -> ReferenceIntervals:
    """A reference-interval TOML (the same fields as a lab settings ``[reference]`` table)."""
    return load_toml(ReferenceIntervals, path)


@dataclass(frozen=True)
class ClassResult:
    """One row as a lab reads it: the count, percent, absolute count and its mark."""

    name: str
    count: int
    percent: float
    per_ul: float | None
    mark: str  #: "H", "L" or ""
    reference: str  #: the interval as text ("40-80"), percent
    reference_per_ul: str


@dataclass(frozen=True)
class ReferenceResult:
    rows: dict[str, ClassResult]
    bands: ClassResult | None  #: the bands, shown apart (already in the neutrophils)
    denominator: int  #: WBCs the percentages are of (five-part + bands)
    flags: list[Flag]


def _mark(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return ""
    if high is not None and value > high:
        return "H"
    if low is not None and value < low:
        return "L"
    return ""


def _row(
    name: str, count: int, n: int, wbc_per_ul: float | None, ref: Interval | None
) -> ClassResult:
    pct = 100.0 * count / n if n else 0.0
    per_ul = wbc_per_ul * pct / 100.0 if wbc_per_ul is not None else None
    ref = ref or Interval()
    mark = _mark(pct, ref.low_percent, ref.high_percent) if n else ""
    if per_ul is not None and n:
        mark = _mark(per_ul, ref.low_per_ul, ref.high_per_ul) or mark
    return ClassResult(name, count, pct, per_ul, mark, ref.text(), ref.text(absolute=True))


def _label(name: str) -> str:
    return name.replace("_", " ")


def evaluate(
    counts: Mapping[str, int],
    reference: ReferenceIntervals | None = None,
    wbc_per_ul: float | None = None,
) -> ReferenceResult:
    """Mark each five-part class against ``reference`` (bands counted with neutrophils) and
    raise the flags: H/L per class, bands above their interval, critical and abnormal cells.

    ``counts``: cells per class name, five-part classes and any pre-classes (a reviewer's
    band neutrophils and blasts included); dead cells are not passed. Percentages are of the
    differential's 100 % (``uvscope.analysis.differential.IN_DIFFERENTIAL``), as in
    ``differential.json``."""
    ref = reference or ReferenceIntervals()
    bands = int(counts.get(BAND, 0))
    # the differential's 100 %: the five parts and the pre-classes counted in it (bands,
    # immature granulocytes, blasts, ...; not nucleated red cells or smudge cells)
    n = sum(int(counts.get(c, 0)) for c in (*CLASSES, *IN_DIFFERENTIAL))
    rows: dict[str, ClassResult] = {}
    flags: list[Flag] = []
    for name in CLASSES:
        count = int(counts.get(name, 0)) + (bands if name == NEUTROPHIL else 0)
        row = _row(name, count, n, wbc_per_ul, ref.intervals.get(name))
        rows[name] = row
        if row.mark:
            flags.append(_range_flag(row, ref, wbc_per_ul is not None))
    band_row = _row(BAND, bands, n, None, ref.intervals.get(BAND)) if bands else None
    if band_row is not None and band_row.mark == "H":
        flags.append(
            Flag(
                "band_neutrophil_high",
                f"Bands {band_row.percent:.1f} % of WBCs (reference {band_row.reference} %): "
                "left shift",
                f"bands above {band_row.reference} % (the lab's intervals in use)",
            )
        )
    for name, critical in [(c, True) for c in ref.critical_classes] + [
        (c, False) for c in ref.abnormal_classes
    ]:
        seen = int(counts.get(name, 0))
        if seen:
            per100 = 100.0 * seen / n if n else 0.0
            flags.append(
                Flag(
                    name,
                    f"{_label(name).capitalize()}s seen: {seen} ({per100:.1f} per 100 WBCs)",
                    f"any {_label(name)} counted"
                    + (": a critical finding by the lab's settings" if critical else ""),
                    critical=critical,
                )
            )
    return ReferenceResult(rows, band_row, n, flags)


def _range_flag(row: ClassResult, ref: ReferenceIntervals, absolute: bool) -> Flag:
    word = "high" if row.mark == "H" else "low"
    text = f"{_label(row.name).capitalize()}s {row.percent:.1f} %"
    limits = f"{row.reference} %"
    if absolute and row.per_ul is not None:
        text += f", {row.per_ul:,.0f} /µL"
        limits += f", {row.reference_per_ul} /µL"
    return Flag(
        f"{row.name}_{word}",
        f"{text} ({row.mark}; reference {limits})",
        f"outside the reference interval {limits} (the lab's intervals in use)",
    )
