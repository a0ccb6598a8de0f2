"""The report's reference section: critical findings at the top, H/L against the intervals.

Kept apart from report.py (which others extend) so the reference check is one small module:
``reference_html`` is the table beside the differential, ``findings_html`` the box that
opens the report when anything is flagged, critical findings first.
"""

from __future__ import annotations

import html
from typing import Any

from uvscope.analysis.flags import Flag, ordered
from uvscope.analysis.reference import (
    ClassResult,
    ReferenceIntervals,
    ReferenceResult,
    evaluate,
)
from uvscope.classes import CLASSES


def evaluate_report(
    counted: dict[str, Any],
    outside: dict[str, int],
    reference: ReferenceIntervals | None,
    wbc_per_ul: float | None,
) -> ReferenceResult:
    """The reference check of the differential the report is about (reviewed when there is
    one), with the reviewer's bands and blasts."""
    counts = {c["name"]: int(c["count"]) for c in counted["classes"]}
    # the pre-classified cells (automatic, and the reviewer's where there is a review)
    pre = {c["name"]: int(c["count"]) for c in counted.get("preclasses") or []}
    counts.update(pre)
    counts.update({k: int(v) for k, v in outside.items() if v and k not in pre})
    return evaluate(counts, reference, wbc_per_ul)


def cell_findings(reference_flags: list[Flag], counted: dict[str, Any]) -> list[Flag]:
    """The reference check's flags and the differential's own (``differential.json``
    "flags": blasts, immature granulocytes), one flag per finding: the differential's blast
    flag is left out where the reference check already raised one for blasts."""
    codes = {f.code for f in reference_flags}
    extra = [Flag.from_dict(f) for f in counted.get("flags") or []]
    return [*reference_flags, *(f for f in extra if not (f.code == "blasts" and "blast" in codes))]


def _mark(mark: str) -> str:
    colour = "#c0392b" if mark == "H" else "#1f5fbf"  # as the window marks them
    return f' <b class="flag" style="color:{colour}">&nbsp;{mark}&nbsp;</b>' if mark else ""


def _item(r: ClassResult, star: str) -> str:
    text = f"{html.escape(r.name)}{star} <b>{r.percent:.1f} %</b>"
    if r.per_ul is not None:
        text += f", {r.per_ul:,.0f} /µL"
    return f'<span class="ref">{text} ({html.escape(r.reference)}){_mark(r.mark)}</span>'


def reference_html(result: ReferenceResult, source: str) -> str:
    """A short paragraph, a clause per class: the percent (and /µL) with its H/L mark and
    the interval in brackets; two or three lines, so the first page keeps its room."""
    star = "*" if result.bands else ""
    items = "; ".join(
        _item(result.rows[name], star if name == "neutrophil" else "") for name in CLASSES
    )
    note = ""
    if result.bands is not None:
        b = result.bands
        note = (
            f" * with {b.count} band{'s' if b.count != 1 else ''} ({b.percent:.1f} % of "
            f"{result.denominator} WBCs, reference {html.escape(b.reference)} %"
            f"{', ' + b.mark if b.mark else ''})."
        )
    return (
        '<p class="reference" style="font-size:0.85em"><b>Against the reference intervals:</b> '
        f"{items}.{note} "
        f'<span class="muted" style="font-size:0.8em">Intervals: {html.escape(source)}.</span></p>'
    )


def findings_html(flags: list[Flag]) -> str:
    """One red line above the title for each critical finding (nothing when there is none):
    the first thing a reader sees."""
    critical = [f for f in ordered(flags) if f.critical]
    return "".join(
        '<div class="critical" style="border:2px solid #c0392b;color:#8b1a10;'
        f'padding:2px 8px;margin:0 0 4px 0"><b>CRITICAL: {html.escape(f.message)}</b></div>'
        for f in critical
    )


def _is_range_flag(flag: Flag) -> bool:
    return any(flag.code in (f"{c}_high", f"{c}_low") for c in CLASSES)


def with_flag_rows(flags_table: str, flags: list[Flag]) -> str:
    """The quality-flag table with the cell findings (bands above their interval, immature
    and atypical cells) as its first rows. The critical ones are already the report's first
    lines, and H/L is marked beside each class in the reference paragraph: neither is
    repeated here, so the first page keeps its room."""
    rows = "".join(
        f'<tr class="raised"><td class="flag">FLAG</td>'
        f"<td>{html.escape(f.code.replace('_', ' '))}</td><td>{html.escape(f.message)}</td>"
        f"<td>{html.escape(f.rule)}</td></tr>"
        for f in flags
        if not f.critical and not _is_range_flag(f)
    )
    head = '<table class="flags">'
    return flags_table.replace(head, head + rows, 1) if head in flags_table else flags_table
