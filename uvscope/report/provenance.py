"""The report's provenance file: scan and analysis configuration, model cards, review log.

Kept out of the printed report (the model cards alone were 15 pages) and linked from its
appendix, so the report stays a two-page document and nothing is lost.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from uvscope.io.plan_record import PlanRecord
from uvscope.report.facts import ReportFacts
from uvscope.report.inputs import write_text_whole

PROVENANCE_NAME = "report_provenance.html"

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }}
pre {{ background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: 0.2em 0.7em; border-bottom: 1px solid #ddd; }}
</style></head><body>
<h1>{title}</h1>
<p><a href="{back}">Back to the report</a></p>
{body}
</body></html>
"""


def _block(title: str, value: Any) -> str:
    text = json.dumps(value, indent=2, default=str)
    return f"<h2>{html.escape(title)}</h2><pre>{html.escape(text)}</pre>"


def _scan_block(manifest: dict[str, Any]) -> dict[str, Any]:
    scan = {k: manifest.get(k) for k in ("software", "created", "status", "summary")}
    plan = PlanRecord.from_manifest(manifest)
    if plan.recorded:
        scan["plan"] = plan.without_positions()
    return scan


def _reviewed_rows(facts: ReportFacts) -> str:
    auto = {c["cell_id"]: c["cell_class"] for c in facts.cells}
    rows = ["<table><tr><th>cell</th><th>tile</th><th>automatic</th><th>reviewed</th></tr>"]
    for cell_id in sorted(facts.reviewed):
        r = facts.reviewed[cell_id]
        rows.append(
            f"<tr><td>{html.escape(cell_id)}</td><td>{r.tile}</td>"
            f"<td>{html.escape(auto.get(cell_id, r.predicted))}</td>"
            f"<td>{html.escape(r.reviewed)}</td></tr>"
        )
    return "".join(rows) + "</table>"


def provenance_html(facts: ReportFacts, report_name: str = "report.html") -> str:
    """The whole provenance page."""
    doc, manifest = facts.doc, facts.manifest
    models = doc.get("models", {})
    parts = [
        _block("Scan", _scan_block(manifest)),
        _block("Scan configuration", manifest.get("config", {})),
        _block("Rig", manifest.get("rig", {})),
        _block("Models used", {k: v for k, v in models.items() if not k.endswith("_card")}),
    ]
    for key in sorted(k for k in models if k.endswith("_card")):
        parts.append(_block(f"Model card: {key.removesuffix('_card')}", models[key]))
    parts.append(_block("Analysis settings", doc.get("settings", {})))
    reg = {k: v for k, v in doc.get("mosaic", {}).items() if k not in ("pairs", "positions_px")}
    parts.append(_block("Registration", reg))
    if facts.reviewed:
        parts.append(f"<h2>Reviewed cells ({len(facts.reviewed)})</h2>" + _reviewed_rows(facts))
    if facts.signoff is not None:
        parts.append(_block("Sign-off", facts.signoff.__dict__))
    title = f"{facts.scan_dir.name}: provenance of the report"
    return _PAGE.format(
        title=html.escape(title), back=html.escape(report_name), body="".join(parts)
    )


def write_provenance(facts: ReportFacts, report_path: Path) -> Path:
    """Write the provenance page beside the report; return its path."""
    path = report_path.with_name(PROVENANCE_NAME)
    write_text_whole(path, provenance_html(facts, report_path.name))  # never half a file
    return path
