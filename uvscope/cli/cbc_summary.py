"""The red cells and platelets on the terminal: a few lines from ``analysis/cbc.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console


def cbc_lines(doc: dict[str, Any]) -> list[str]:
    """The indices a reader looks at first (MCH, size, platelets) and every red-cell or
    platelet flag, critical first; no haemoglobin number where none was measured."""
    hb, size, plt = doc.get("haemoglobin") or {}, doc.get("size") or {}, doc.get("platelets") or {}
    parts = [f"red cells: {doc.get('red_cells_counted', 0)} counted"]
    if hb.get("measured"):
        lo, hi = hb["mch_ci_pg"]
        parts.append(f"MCH {hb['mch_pg']:.1f} pg ({lo:.1f}-{hi:.1f})")
    else:
        why = "; ".join(hb.get("problems") or []) or "not measured"
        parts.append(f"haemoglobin not measured ({why})")
    if size.get("measured"):
        parts.append(
            f"diameter {size['mean_diameter_um']:.2f} um, RDW {size['rdw_cv_percent']:.1f} %"
        )
    if plt.get("per_1000_rbc") is not None:
        text = f"platelets {plt['per_1000_rbc']:.0f} per 1,000 RBC"
        if plt.get("per_ul") is not None:
            text += f" (~{plt['per_ul'] / 1e3:,.0f} x10^3/uL)"
        parts.append(text)
    lines = ["; ".join(parts)]
    flags = sorted(doc.get("flags") or [], key=lambda f: not f.get("critical"))
    lines += [
        f"{'CRITICAL' if f.get('critical') else 'flag'}: {f['message']} ({f['rule']})"
        for f in flags
    ]
    return lines


def print_cbc(console: Console, analysis_dir: str | Path) -> None:
    """Print the summary of ``analysis_dir/cbc.json`` (nothing when there is none)."""
    path = Path(analysis_dir) / "cbc.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no red-cell analysis (or written by an older uvscope): the differential says it
    for line in cbc_lines(doc):
        style = (
            "bold red"
            if line.startswith("CRITICAL")
            else ("bold yellow" if line.startswith("flag") else "")
        )
        console.print(f"[{style}]{line}[/]" if style else line, highlight=False)
