"""The report's pre-classified cells and findings: bands, immature granulocytes, blasts,
variant lymphocytes, plasma cells (in the 100 %), nucleated red cells per 100 WBC and smudge
cells (apart), and the flags they raise, critical first.

Reads the differential as ``differential.json`` holds it (``Differential.to_dict``); a
differential written before the pre-classes has none of these keys and gives empty HTML.
"""

from __future__ import annotations

import html
from typing import Any

from uvscope.analysis.review import class_label
from uvscope.classes import BAND


def findings_html(diff: dict[str, Any]) -> str:
    """The differential's flags as banners (critical in red), or nothing."""
    items = []
    for f in diff.get("flags") or []:
        cls = "finding critical" if f.get("critical") else "finding"
        head = "Critical finding" if f.get("critical") else "Finding"
        items.append(
            f'<p class="{cls}"><b>{head}:</b> {html.escape(str(f["message"]))} '
            f'<span class="rule">(rule: {html.escape(str(f["rule"]))})</span></p>'
        )
    return '<div class="findings">' + "".join(items) + "</div>" if items else ""


def _row(label: str, count: object, percent: str, ci: str = "") -> str:
    return f"<tr><td>{html.escape(label)}</td><td>{count}</td><td>{percent}</td><td>{ci}</td></tr>"


def preclass_table_html(diff: dict[str, Any]) -> str:
    """Pre-classified cells: rows in the 100 % (bands always when listed apart), the IG %,
    then NRBC per 100 WBC and smudge cells outside the 100 %."""
    if "preclasses" not in diff:
        return ""
    rows = []
    for c in diff["preclasses"]:
        if c["count"] or c["name"] == BAND:
            ci = f"{c['ci_low_percent']:.1f} - {c['ci_high_percent']:.1f}"
            rows.append(_row(class_label(c["name"]), c["count"], f"{c['percent']:.1f}", ci))
    ig = diff.get("immature_granulocytes")
    if ig:
        ci = f"{ig['ci_low_percent']:.1f} - {ig['ci_high_percent']:.1f}"
        label = "immature granulocytes (IG: meta-, myelo-, promyelocytes)"
        rows.append(_row(label, ig["count"], f"{ig['percent']:.1f}", ci))
    rows.append(
        _row(
            "nucleated red cells (outside the 100 %)",
            diff.get("nrbc", 0),
            f"{float(diff.get('nrbc_per_100_wbc', 0.0)):.1f} / 100 WBC",
        )
    )
    rows.append(_row("smudge cells (outside the 100 %)", diff.get("smudge", 0), ""))
    bands = (
        "bands counted with the neutrophils"
        if diff.get("bands_with_neutrophils")
        else "bands listed apart"
    )
    return (
        f'<table class="diff preclass"><tr><th>pre-classified ({bands})</th><th>count</th>'
        "<th>%</th><th>CI</th></tr>" + "".join(rows) + "</table>"
    )
