"""The report's reference section: critical findings at the top, H/L against the intervals.

Kept apart from report.py (which others extend) so the reference check is one small module:
``reference_html`` is the table beside the differential, ``findings_html`` the box that
opens the report when anything is flagged, critical findings first.
"""

from __future__ import annotations

import html
from typing import Any

from uvscope.analysis.flags import Flag, ordered
from uvscope.analysis.reference import ReferenceIntervals, ReferenceResult, evaluate
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
    counts.update({k: int(v) for k, v in outside.items() if v})
    return evaluate(counts, reference, wbc_per_ul)


def reference_html(result: ReferenceResult, source: str) -> str:
    absolute = any(r.per_ul is not None for r in result.rows.values())
    head = "<tr><th>class</th><th>%</th>" + ("<th>/µL</th>" if absolute else "")
    head += "<th>reference %</th>" + ("<th>reference /µL</th>" if absolute else "")
    rows = [f'<table class="diff reference">{head}<th></th></tr>']
    for name in CLASSES:
        r = result.rows[name]
        mark = f'<td class="flag"><b>{r.mark}</b></td>' if r.mark else "<td></td>"
        label = name + (" (incl. bands)" if name == "neutrophil" and result.bands else "")
        cells = f"<td>{html.escape(label)}</td><td>{r.percent:.1f}</td>"
        if absolute:
            cells += f"<td>{'' if r.per_ul is None else f'{r.per_ul:,.0f}'}</td>"
        cells += f"<td>{html.escape(r.reference)}</td>"
        if absolute:
            cells += f"<td>{html.escape(r.reference_per_ul)}</td>"
        rows.append(f"<tr>{cells}{mark}</tr>")
    if result.bands is not None:
        b = result.bands
        span = 3 + (2 if absolute else 0)
        rows.append(
            f'<tr><td>of which bands</td><td>{b.percent:.1f}</td><td colspan="{span - 2}">'
            f"{b.count} of {result.denominator} WBCs (reference {html.escape(b.reference)} %)"
            f'</td><td class="flag"><b>{b.mark}</b></td></tr>'
        )
    rows.append("</table>")
    return (
        "<h3>Against the reference intervals</h3>"
        + "".join(rows)
        + f'<p class="muted">Reference intervals: {html.escape(source)}.</p>'
    )


def findings_html(flags: list[Flag]) -> str:
    """The box at the top of the report: critical findings first (red), then the others."""
    if not flags:
        return ""
    items = []
    for f in ordered(flags):
        text = html.escape(f.message)
        if f.critical:
            items.append(f'<li style="color:#8b1a10"><b>CRITICAL: {text}</b></li>')
        else:
            items.append(f"<li>{text}</li>")
    critical = any(f.critical for f in flags)
    border = "#c0392b" if critical else "#d4a017"
    title = "Critical findings and flags" if critical else "Flags"
    return (
        f'<div class="findings" style="border:2px solid {border};padding:4px 10px;'
        f'margin:6px 0"><b>{title}</b><ul style="margin:2px 0">{"".join(items)}</ul></div>'
    )
