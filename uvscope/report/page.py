"""The HTML report of an analysed scan: a two-page, self-contained document for the lab.

Page 1 is what a reader signs: who and what (sample, slide, operator, rig, dates), the
quality flags, the differential (automatic beside reviewed, with intervals), the cells a
reviewer put outside the five-part differential, and the signature line. Page 2 has the mosaic
and the cells worth a second look. The appendix links the full provenance (configuration,
model cards), written to a separate file so it never bloats the print.

Reads only what the analysis wrote (DIR/analysis) and the scan folder, so ``uvscope report``
can be re-run at any time without the networks.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from uvscope.analysis.reference import ReferenceIntervals
from uvscope.analysis.review import (
    REVIEW_ONLY_CLASSES,
    class_label,
    outside_counts,
    reviewed_differential,
)
from uvscope.classes import ALL_CLASSES, CLASSES, DEAD, class_hex
from uvscope.localtime import local_text, now_local
from uvscope.report.cbc import cbc_section_html
from uvscope.report.facts import Flag, ReportFacts, load_facts, plural, quality_flags
from uvscope.report.images import gallery_html, mosaic_html
from uvscope.report.inputs import check_report_inputs, write_text_whole
from uvscope.report.preclass import preclass_table_html
from uvscope.report.provenance import PROVENANCE_NAME, write_provenance
from uvscope.report.reference import (
    cell_findings,
    evaluate_report,
    findings_html,
    reference_html,
    with_flag_rows,
)

CLASS_ORDER = CLASSES
COLOURS = {name: class_hex(name) for name in ALL_CLASSES}  # the one colour table
#: reviewed cells listed in the report itself; all of them are in the provenance file
REVIEWED_ROWS = 20  # the gallery shows them by reviewed class too


_SHORT = {
    "neutrophil": "neut",
    "eosinophil": "eos",
    "basophil": "baso",
    "lymphocyte": "lymph",
    "monocyte": "mono",
}


def _short(name: str, slot_px: float) -> str:
    """The class name, abbreviated as hematology does where the bar is too narrow for it."""
    return name if slot_px >= 80 else _SHORT.get(name, name)


def chart_top(*differentials: list[dict[str, Any]]) -> float:
    """The y-axis top shared by charts compared side by side (a multiple of 10 %)."""
    top = max([c["ci_high_percent"] for d in differentials for c in d] + [10.0])
    return min(100.0, float(np.ceil(top / 10.0) * 10.0))


def bar_chart_svg(
    classes: list[dict[str, Any]], width: int = 560, height: int = 260, ymax: float | None = None
) -> str:
    """Percent per class as bars with their confidence intervals as whiskers."""
    left, bottom, top = 48, 40, 12
    plot_h = height - bottom - top
    n = max(len(classes), 1)
    slot = (width - left - 10) / n
    ymax = ymax if ymax is not None else chart_top(classes)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / ymax)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="differential with confidence intervals">'
    ]
    for t in np.linspace(0, ymax, 6):
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y(t) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{t:.0f}%</text>'
        )
    for k, c in enumerate(classes):
        x0 = left + k * slot + slot * 0.2
        bw = slot * 0.6
        colour = COLOURS.get(c["name"], "#888")
        parts.append(
            f'<rect x="{x0:.1f}" y="{y(c["percent"]):.1f}" width="{bw:.1f}" '
            f'height="{y(0) - y(c["percent"]):.1f}" fill="{colour}">'
            f"<title>{html.escape(c['name'])}: {c['percent']:.1f}% "
            f"({c['ci_low_percent']:.1f}-{c['ci_high_percent']:.1f}%)</title></rect>"
        )
        xm = x0 + bw / 2
        lo, hi = y(c["ci_low_percent"]), y(c["ci_high_percent"])
        parts.append(
            f'<line class="ci" x1="{xm:.1f}" x2="{xm:.1f}" y1="{lo:.1f}" y2="{hi:.1f}" '
            'stroke="#222" stroke-width="1.5"/>'
        )
        for yy in (lo, hi):
            parts.append(
                f'<line x1="{xm - 6:.1f}" x2="{xm + 6:.1f}" y1="{yy:.1f}" '
                f'y2="{yy:.1f}" stroke="#222" stroke-width="1.5"/>'
            )
        parts.append(
            f'<text x="{xm:.1f}" y="{height - bottom + 16}" font-size="11" '
            f'text-anchor="middle">{html.escape(_short(c["name"], slot))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _swatch(name: str) -> str:
    colour = COLOURS.get(name, "#888")
    return f'<span class="swatch" style="background:{colour}"></span>'


def _ci(c: dict[str, Any]) -> str:
    return f"{c['ci_low_percent']:.1f} - {c['ci_high_percent']:.1f}"


def _preclassified(diff: dict[str, Any]) -> tuple[int, float]:
    """The pre-classified cells counted in the 100 % (bands, blasts, ...): with them the
    class rows add up to the healthy-WBC total every percent is of."""
    n = sum(int(c["count"]) for c in diff.get("preclasses", ()))
    return n, 100.0 * n / diff["healthy"] if diff["healthy"] else 0.0


def _preclassified_row(*diffs: dict[str, Any]) -> str:
    """The row of pre-classified cells (none when no differential has any)."""
    if not any(_preclassified(d)[0] for d in diffs):
        return ""
    cells = []
    for k, d in enumerate(diffs):
        n, pct = _preclassified(d)
        auto = ' class="auto"' if k else ""
        cells.append(f"<td{auto}>{n}</td><td{auto}>{pct:.1f}</td><td{auto}></td>")
    return "<tr><td>pre-classified (below)</td>" + "".join(cells) + "</tr>"


def denominators_html(diff: dict[str, Any]) -> str:
    """Which count each percent on page 1 is of, said once under the differential."""
    n = plural(int(diff["healthy"]), "healthy WBC")
    return (
        f'<p class="muted denominators">Every % above and below is of the {n} (the 100 %: '
        "the five classes and the pre-classified cells); dead cells, nucleated red cells and "
        "smudge cells are counted apart. The quality flags' shares are of all cells found.</p>"
    )


def _table(diff: dict[str, Any]) -> str:
    conf = 100 * float(diff.get("confidence", 0.95))
    rows = [
        '<table class="diff"><tr><th>class</th><th>count</th><th>%</th>'
        f"<th>{conf:.0f} % CI</th></tr>"
    ]
    for c in diff["classes"]:
        rows.append(
            f"<tr><td>{_swatch(c['name'])}{html.escape(c['name'])}</td><td>{c['count']}</td>"
            f"<td>{c['percent']:.1f}</td><td>{_ci(c)}</td></tr>"
        )
    rows.append(_preclassified_row(diff))
    rows.append(f"<tr><th>healthy WBCs</th><th>{diff['healthy']}</th><th>100</th><th></th></tr>")
    rows.append(
        f"<tr><td>dead cells (not in the differential)</td><td>{diff['dead']}</td>"
        "<td></td><td></td></tr></table>"
    )
    return "".join(rows)


def _comparison_table(auto: dict[str, Any], reviewed: dict[str, Any]) -> str:
    """The automatic and the reviewed differential side by side, class by class."""
    conf = 100 * float(auto.get("confidence", 0.95))
    rev = {c["name"]: c for c in reviewed["classes"]}
    rows = [
        '<table class="diff compare"><tr><th></th><th colspan="3">after review</th>'
        '<th colspan="3" class="auto">automatic</th></tr>'
        "<tr><th>class</th>" + f"<th>count</th><th>%</th><th>{conf:.0f} % CI</th>" * 2 + "</tr>"
    ]
    for c in auto["classes"]:
        r = rev[c["name"]]
        rows.append(
            f"<tr><td>{_swatch(c['name'])}{html.escape(c['name'])}</td>"
            f"<td>{r['count']}</td><td>{r['percent']:.1f}</td><td>{_ci(r)}</td>"
            f'<td class="auto">{c["count"]}</td><td class="auto">{c["percent"]:.1f}</td>'
            f'<td class="auto">{_ci(c)}</td></tr>'
        )
    rows.append(_preclassified_row(reviewed, auto))
    rows.append(
        f"<tr><th>healthy WBCs</th><th>{reviewed['healthy']}</th><th>100</th><th></th>"
        f'<th class="auto">{auto["healthy"]}</th><th class="auto">100</th><th></th></tr>'
        f"<tr><td>dead cells (not in the differential)</td><td>{reviewed['dead']}</td>"
        f'<td></td><td></td><td class="auto">{auto["dead"]}</td><td></td><td></td></tr></table>'
    )
    return "".join(rows)


def _outside_html(counts: dict[str, int]) -> str:
    """Cells a reviewer put outside the five-part differential: counted apart."""
    if not any(counts.values()):
        return ""
    cells = "".join(
        f"<tr><td>{html.escape(class_label(k))}</td><td>{n}</td></tr>"
        for k, n in counts.items()
        if n
    )
    return (
        '<table class="outside"><tr><th>outside the differential (review)</th><th>count</th>'
        f"</tr>{cells}</table>"
    )


def _flags_html(flags: list[Flag]) -> str:
    rows = []
    for f in flags:
        mark = '<td class="flag">FLAG</td>' if f.raised else '<td class="ok">ok</td>'
        advice = html.escape(f.advice) if f.raised else ""
        rows.append(
            f'<tr class="{"raised" if f.raised else ""}">{mark}<td>{html.escape(f.name)}</td>'
            f"<td>{html.escape(f.value)}</td><td>{advice}</td></tr>"
        )
    return '<table class="flags">' + "".join(rows) + "</table>"


def _tile_flags(facts: ReportFacts) -> list[Flag]:
    tiles = facts.doc.get("tiles", {})
    out = []
    failed = tiles.get("failed", {})
    if failed:
        out.append(
            Flag(
                "tiles failed analysis",
                f"{len(failed)}: {', '.join(sorted(map(str, failed)))}",
                True,
                "their cells are missing: see differential.json, re-run `uvscope analyze`",
            )
        )
    skipped = tiles.get("skipped") or {}
    if skipped:
        out.append(
            Flag(
                "tiles skipped (damaged files)",
                f"{len(skipped)}: {', '.join(sorted(map(str, skipped)))}",
                True,
                "not analysed: see differential.json for each file and why",
            )
        )
    left_out = tiles.get("left_out_of_counting", [])
    if left_out:
        out.append(
            Flag(
                "tiles left out of counting",
                f"{len(left_out)}: {', '.join(map(str, left_out))}",
                True,
                "flagged out of focus by the scan: in the mosaic, not in the differential",
            )
        )
    diff = facts.diff
    if diff.get("stop_rule"):
        reached = diff.get("stop_reached_after_tiles") is not None
        out.append(
            Flag(
                "stop rule",
                str(diff["stop_rule"]),
                not reached,
                "the region was too small: enlarge it for a full differential",
            )
        )
    for text in diff.get("warnings") or []:  # the differential's own warnings
        if "healthy WBC" in text and "counted: a differential needs" in text:
            continue  # said by the WBC-count flag
        if text.startswith("stop rule not reached"):
            continue  # said by the stop-rule flag
        out.append(Flag("warning", str(text), True, ""))
    return out


def _use_notice(facts: ReportFacts) -> str:
    text = (
        "<b>For research use only.</b> Not for diagnostic use: results must be confirmed by "
        "a qualified reviewer."
    )
    if facts.simulated_models:
        text += (
            f" The analysis models ({html.escape(', '.join(facts.simulated_models))}) were "
            "<b>trained on simulated images only</b> and have never seen real blood: retrain "
            "them on your own labelled scans before trusting these counts."
        )
    return f'<div class="notice">{text}</div>'


def _id_html(facts: ReportFacts, report_time: str) -> str:
    s, diff = facts.sample, facts.diff
    planned = facts.tiles_planned
    tiles = f"{diff['tiles_analysed']}" + (f" of {planned}" if planned is not None else "")
    scan = f"{tiles} tiles analysed"
    if facts.scan_state and facts.scan_state != "complete":
        scan += f"; scan {facts.scan_state}"
    if diff.get("stop_after_wbc"):
        scan += f"; stop rule {plural(int(diff['stop_after_wbc']), 'healthy WBC')}"
    fields = [
        ("Sample id", s.id),
        ("Slide id", s.slide_id),
        ("Operator", s.operator),
        ("Rig", facts.rig_name),
        ("Scanned", local_text(facts.scan_started)),
        ("Report", report_time),
        ("Scan", scan),
        ("Folder", facts.scan_dir.name),
    ]
    blank = '<span class="blank">not given</span>'
    cells = "".join(
        f'<div><span class="k">{k}</span> {html.escape(v) if v else blank}</div>' for k, v in fields
    )
    return f'<div class="ids">{cells}</div>'


def _signature_html(facts: ReportFacts) -> str:
    so = facts.signoff
    if so is not None and facts.signoff_current:
        signed = (
            f"Review signed off in uvscope by <b>{html.escape(so.operator)}</b> at "
            f"{html.escape(local_text(so.time))} ({plural(so.reviewed_cells, 'cell')} "
            "reclassified)."
        )
    elif so is not None:
        signed = (
            f'<span class="warn">The review signed off by {html.escape(so.operator)} at '
            f"{html.escape(local_text(so.time))} was changed afterwards: the sign-off does "
            "not cover these numbers; sign off again.</span>"
        )
    else:
        signed = "The review has not been signed off in uvscope."
    return (
        f'<div class="sign"><p>{signed}</p><div class="lines">'
        "<div>Reviewed by (name)</div><div>Signature</div><div>Date</div></div></div>"
    )


def _differential_html(facts: ReportFacts) -> tuple[str, str, dict[str, Any]]:
    """(tables, charts, the differential the flags are about: reviewed when there is one)."""
    diff = facts.diff
    if not facts.reviewed:
        return _table(diff), bar_chart_svg(diff["classes"], 420, 200), diff
    pairs = [(c["cell_id"], c["cell_class"]) for c in facts.cells]
    rev: dict[str, Any] = reviewed_differential(
        pairs,
        facts.reviewed,
        confidence=float(diff.get("confidence", 0.95)),
        stop_after_wbc=diff.get("stop_after_wbc"),
    ).to_dict()
    review_only = {  # the pre-classes are in the pre-classified line: not repeated here
        k: n for k, n in outside_counts(pairs, facts.reviewed).items() if k in REVIEW_ONLY_CLASSES
    }
    tables = _comparison_table(diff, rev) + _outside_html(review_only)
    top = chart_top(rev["classes"], diff["classes"])  # one scale for the pair
    charts = (
        '<div class="charts">'
        + _figure(bar_chart_svg(rev["classes"], 340, 170, top), "after review")
        + _figure(bar_chart_svg(diff["classes"], 340, 170, top), "automatic")
        + "</div>"
    )
    return tables, charts, rev


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _reviewed_cells_html(facts: ReportFacts) -> str:
    """The reviewed cells (the first ``REVIEWED_ROWS``) in one paragraph: id, tile,
    automatic -> reviewed (a table of them took a third printed page)."""
    if not facts.reviewed:
        return ""
    automatic = {c["cell_id"]: c["cell_class"] for c in facts.cells}
    missing = [cid for cid in facts.reviewed if cid not in automatic]
    items = []
    for cell_id in sorted(facts.reviewed)[:REVIEWED_ROWS]:  # zero-padded: tile, label order
        r = facts.reviewed[cell_id]
        auto, note = automatic.get(cell_id, r.predicted), " *" if cell_id in missing else ""
        items.append(
            f'<span class="rc">{html.escape(cell_id)}{note} (tile {r.tile}): '
            f"{html.escape(auto)} &rarr; {html.escape(class_label(r.reviewed))}</span>"
        )
    n = len(facts.reviewed)
    more = f"; ... and {n - REVIEWED_ROWS} more in the provenance file" if n > REVIEWED_ROWS else ""
    out = [f'<p class="reviewed"><b>Reviewed cells ({n}):</b> ' + "; ".join(items) + more + "."]
    if missing:
        out.append(
            f'<p class="warn">* {plural(len(missing), "reviewed cell")} not in cells.csv (the '
            "scan was re-analysed after the review?): not in the reviewed differential.</p>"
        )
    return "".join(out)


def _models_summary(facts: ReportFacts) -> str:
    """The networks by name and weights (other provenance, e.g. an allowed modality
    mismatch, is in the provenance file), in one line."""
    models = facts.doc.get("models", {})
    items = []
    for kind in sorted(k for k in models if not k.endswith("_card") and isinstance(models[k], str)):
        card = models.get(f"{kind}_card")
        sha = str(card.get("sha256", ""))[:12] if isinstance(card, dict) else ""
        sim = ", simulated training data" if kind in facts.simulated_models else ""
        weights = f" (weights sha256 <code>{html.escape(sha)}</code>{sim})" if sha else ""
        items.append(f"{html.escape(kind)} {html.escape(str(models[kind]))}{weights}")
    if not items:
        return ""
    return '<p class="models"><b>Networks:</b> ' + "; ".join(items) + ".</p>"


def _wavelength(facts: ReportFacts) -> int:
    return int(facts.doc.get("settings", {}).get("inference", {}).get("wavelength_nm", 260))


def write_report(
    scan_dir: str | Path,
    out: str | Path | None = None,
    sample_id: str | None = None,
    operator: str | None = None,
    slide_id: str | None = None,
    reference: ReferenceIntervals | None = None,
    wbc_per_ul: float | None = None,
) -> Path:
    """Write DIR/analysis/report.html (or ``out``) and its provenance file beside it.

    ``sample_id``, ``operator`` and ``slide_id`` override the scan file's ``[sample]``;
    ``reference``: the lab's intervals (default: the textbook adult ones); ``wbc_per_ul``:
    the sample's WBC count, for absolute counts.
    """
    scan_dir = Path(scan_dir)
    check_report_inputs(scan_dir)  # never a report from missing or damaged results
    facts = load_facts(scan_dir, sample_id, operator, slide_id)
    report_time = local_text(now_local())  # the lab's clock, with its UTC offset
    tables, charts, counted = _differential_html(facts)
    flags = quality_flags(facts, int(counted["healthy"]), int(counted["dead"]))
    pairs = [(c["cell_id"], c["cell_class"]) for c in facts.cells]
    ref = evaluate_report(counted, outside_counts(pairs, facts.reviewed), reference, wbc_per_ul)
    findings = cell_findings(ref.flags, counted)
    source = (reference or ReferenceIntervals()).source
    sample = facts.sample.id or scan_dir.name
    target = Path(out) if out is not None else scan_dir / "analysis" / "report.html"
    text = resources.files("uvscope.report").joinpath("templates/report.html").read_text("utf-8")
    page = Template(text).substitute(
        title=html.escape(f"{sample}: white-cell differential"),
        notice=findings_html(findings) + _use_notice(facts),
        ids=_id_html(facts, report_time),
        flags=with_flag_rows(_flags_html(flags + _tile_flags(facts)), findings),
        differential=tables
        + denominators_html(counted)
        + reference_html(ref, source)
        + preclass_table_html(counted),
        charts=charts,
        signature=_signature_html(facts),
        redcells=cbc_section_html(scan_dir / "analysis"),
        mosaic=mosaic_html(scan_dir / "analysis"),
        gallery=gallery_html(
            scan_dir, facts.cells, (*CLASSES, DEAD), _wavelength(facts), facts.reviewed
        ),
        wavelength=_wavelength(facts),
        reviewed=_reviewed_cells_html(facts),
        models=_models_summary(facts),
        software=html.escape(str((facts.manifest.get("software") or {}).get("version", ""))),
        provenance=PROVENANCE_NAME,
    )
    write_text_whole(target, page)  # a killed writer leaves the previous report
    write_provenance(facts, target)
    return target
