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


def _item(label: str, count: object, share: str) -> str:
    return f"<b>{html.escape(label)}</b> {count} ({share})"


def preclass_table_html(diff: dict[str, Any]) -> str:
    """Pre-classified cells in one paragraph (page 1 must stay short): each pre-class counted
    in the 100 % (bands always when listed apart), the IG %, then NRBC per 100 WBC and smudge
    cells outside the 100 %, with the lab's band rule."""
    if "preclasses" not in diff:
        return ""
    items = []
    for c in diff["preclasses"]:
        if c["count"] or c["name"] == BAND:
            ci = f"{c['percent']:.1f} %, CI {c['ci_low_percent']:.1f}-{c['ci_high_percent']:.1f}"
            items.append(_item(class_label(c["name"]), c["count"], ci))
    ig = diff.get("immature_granulocytes")
    if ig and ig["count"]:
        items.append(
            _item("IG (meta-, myelo-, promyelocytes)", ig["count"], f"{ig['percent']:.1f} %")
        )
    nrbc = int(diff.get("nrbc", 0))
    per = float(diff.get("nrbc_per_100_wbc", 0.0))
    items.append(_item("nucleated red cells", nrbc, f"{per:.1f} / 100 WBC, outside the 100 %"))
    if diff.get("smudge"):
        items.append(_item("smudge cells", diff["smudge"], "outside the 100 %"))
    bands = (
        "bands counted with the neutrophils"
        if diff.get("bands_with_neutrophils")
        else "bands listed apart"
    )
    return f'<p class="preclass">Pre-classified ({bands}): ' + "; ".join(items) + ".</p>"
