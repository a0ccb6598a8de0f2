"""The report's "Red cells and platelets" section, from ``analysis/cbc.json`` alone.

Indices with their intervals, the haemoglobin-mass and diameter histograms, the red-cell and
platelet flags with their rules, and a small gallery of the flagged cells. Where haemoglobin
mass could not be measured the section says why and prints no number.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from uvscope.analysis.rbc_review import ReviewedSmear, reviewed_smear
from uvscope.classes import RBC_CLASSES
from uvscope.report.images import png_data_uri, to_u8

GALLERY_FILE = "rbc_gallery.npz"
#: crops shown per class in the report
GALLERY_PER_CLASS = 2

_STYLE = """<style>
.rbc table.idx td:nth-child(2) { font-weight: 600; }
.rbc .hists { display: flex; gap: 0.8em; }
.rbc .gal { display: flex; flex-wrap: wrap; gap: 0.3em; }
.rbc .gal div { border: 1px solid #ddd; font-size: 0.7em; text-align: center; padding: 0.1em; }
.rbc .gal img { height: 1.0cm; image-rendering: pixelated; display: block; }
.rbc table { font-size: 0.9em; margin: 0.2em 0; } .rbc td, .rbc th { padding: 0.05em 0.5em; }
.rbc .row { display: flex; gap: 1.2em; align-items: flex-start; }
.rbc table.idx { min-width: 20em; } .rbc .muted { font-size: 0.85em; }
.rbc td.crit { color: #fff; background: #b00; font-weight: bold; }
</style>"""


def _num(v: Any, fmt: str) -> str:
    return "n/a" if v is None else format(float(v), fmt)


def _ci(pair: Any, fmt: str) -> str:
    if not pair or any(v is None for v in pair):
        return ""
    return f' <span class="muted">({format(pair[0], fmt)}-{format(pair[1], fmt)})</span>'


def histogram_svg(edges: list[float], counts: list[int], label: str, width: int = 260) -> str:
    """Counts per bin as bars; the x axis labelled at a few edges."""
    height, left, bottom, top = 92, 20, 24, 4
    c = np.asarray(counts, float)
    nz = np.nonzero(c)[0]
    if nz.size == 0:
        return ""
    lo, hi = max(int(nz[0]) - 1, 0), min(int(nz[-1]) + 2, len(c))
    c, e = c[lo:hi], np.asarray(edges[lo : hi + 1], float)
    plot_w, plot_h = width - left - 6, height - bottom - top
    bw = plot_w / len(c)
    peak = max(float(c.max()), 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(label)}">'
    ]
    for i, v in enumerate(c):
        h = plot_h * v / peak
        x = left + i * bw
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bw - 1, 0.5):.1f}" '
            f'height="{h:.1f}" fill="#8c3b4a"/>'
        )
    for i in range(0, len(e), max(len(e) // 5, 1)):
        x = left + i * bw
        parts.append(
            f'<text x="{x:.1f}" y="{height - 12}" font-size="9" text-anchor="middle">'
            f"{e[i]:g}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 1}" font-size="9" '
        f'text-anchor="middle">{html.escape(label)}</text>'
    )
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'stroke="#444"/></svg>'
    )
    return "".join(parts)


#: rows whose note is printed (the others' are in cbc.json)
_NOTED = ("Red cells counted", "MCH", "Platelets / uL")


def _thousands(v: Any) -> float | None:
    return None if v is None else float(v) / 1e3


def _indices(doc: dict[str, Any]) -> str:
    hb, size, plt, wbc = doc["haemoglobin"], doc["size"], doc["platelets"], doc["white_cells"]
    rows = [
        (
            "Red cells counted",
            f"{doc['red_cells_counted']:,}",
            f"{doc['red_cells_overlapped']:,} overlapping: counted, not measured",
        )
    ]
    if hb.get("measured"):
        rows += [
            (
                "MCH",
                f"{hb['mch_pg']:.1f} pg" + _ci(hb.get("mch_ci_pg"), ".1f"),
                f"{hb['cells']:,} cells",
            ),
            ("Hb-mass width", f"{hb['hb_width_cv_percent']:.1f} % (CV)", ""),
        ]
    else:
        why = "; ".join(hb.get("problems") or []) or "not measured"
        rows.append(("MCH", "not measured", f'<span class="warn">{html.escape(why)}</span>'))
    if size.get("measured"):
        rows += [
            (
                "Mean diameter",
                f"{size['mean_diameter_um']:.2f} um" + _ci(size.get("mean_diameter_ci_um"), ".2f"),
                "equivalent-area diameter",
            ),
            ("RDW-like width", f"{size['rdw_cv_percent']:.1f} % (CV)", ""),
        ]
    source = html.escape(str(doc.get("rbc_per_ul_source", "")))
    per = plt.get("per_1000_rbc")
    rows += [
        (
            "Platelets / 1,000 RBC",
            _num(per, ".1f") + _ci(plt.get("per_1000_rbc_ci"), ".1f"),
            f"{plt['objects']:,} objects, {plt['clumps']:,} clumps",
        ),
        (
            "Platelets / uL",
            _num(_thousands(plt.get("per_ul")), ".0f")
            + " x 10^3"
            + _ci([v / 1e3 for v in plt.get("per_ul_ci") or []] or None, ".0f"),
            f"at {doc['rbc_per_ul'] / 1e6:.2f} x 10^6 RBC/uL, {source}",
        ),
        (
            "WBC / 1,000 RBC",
            _num(wbc.get("per_1000_rbc"), ".2f"),
            f"about {_num(_thousands(wbc.get('per_ul')), '.1f')} x 10^3/uL",
        ),
    ]
    body = "".join(
        f"<tr><td>{k}</td><td>{v}"
        + (f"<br><span class='muted'>{n}</span>" if n and k in _NOTED else "")
        + "</td></tr>"
        for k, v, n in rows
    )
    return f'<table class="idx">{body}</table>'


def _morphology(doc: dict[str, Any], reviewed: ReviewedSmear | None) -> str:
    m = reviewed.morphology if reviewed is not None else doc["morphology"]
    rows = []
    for name in RBC_CLASSES:
        c = m["classes"].get(name)
        if c is None or c["percent"] is None:
            continue
        rows.append(
            f"<tr><td>{name}</td><td>{c['count']:,}</td><td>{c['percent']:.1f} %"
            f"{_ci(c['ci_percent'], '.1f')}</td></tr>"
        )
    if not rows:
        return ""
    method = str(doc["morphology"].get("method", ""))
    how = "reviewed" if reviewed is not None else ("network" if "network" in method else "rules")
    return (
        f'<table class="morph"><tr><th>class ({m["classified"]:,} whole cells, {how})</th>'
        f"<th>n</th><th>% (95 % CI)</th></tr>{''.join(rows)}</table>"
    ) + _sickle_all_cells(doc)


def _sickle_all_cells(doc: dict[str, Any]) -> str:
    """Sickle cells among all red cells, those lying in groups of cells included."""
    a = doc["morphology"].get("sickle_all_cells") or {}
    if not a.get("in_groups") or a.get("percent") is None:
        return ""
    return (
        f'<p class="muted">Sickle cells among all red cells, {a["in_groups"]:,} read in groups '
        f"of touching cells included: {a['percent']:.1f} %{_ci(a['ci_percent'], '.1f')}.</p>"
    )


def _reviewed_note(reviewed: ReviewedSmear | None) -> str:
    if reviewed is None:
        return ""
    p = reviewed.platelets
    return (
        f'<p class="muted"><b>Reviewed</b>: {reviewed.changed:,} red cells or platelets '
        "reclassified by the reviewer; the morphology shares count the reviewed classes "
        f"(after review {p['platelet']:,} single platelets and {p['platelet_clump']:,} clumps "
        "in the gallery's list; the platelet estimates are the analysis's).</p>"
    )


def _flags(doc: dict[str, Any]) -> str:
    flags = doc.get("flags") or []
    if not flags:
        return '<p class="muted">No red-cell or platelet flag raised.</p>'
    rows = "".join(
        f"<tr><td class='{'crit' if f.get('critical') else ''}'>"
        f"{'CRITICAL' if f.get('critical') else 'flag'}</td><td>{html.escape(f['message'])} "
        f"<span class='muted'>({html.escape(f['rule'])})</span></td></tr>"
        for f in flags
    )
    return f'<table class="flags">{rows}</table>'


def _gallery(root: Path) -> str:
    path = root / GALLERY_FILE
    if not path.exists():
        return ""
    with np.load(path) as z:
        items = sorted(z.files)
        cells = []
        shown: dict[str, int] = {}
        for key in items:
            kind, _, oid = key.partition("__")
            if shown.get(kind, 0) >= GALLERY_PER_CLASS:
                continue
            shown[kind] = shown.get(kind, 0) + 1
            img = to_u8(-z[key], -0.25, 0.0)  # dark where absorbing, as the 260 nm image
            cells.append(
                f'<div><img src="{png_data_uri(img)}" alt="{html.escape(oid)}">'
                f"{html.escape(kind.replace('_', ' '))}</div>"
            )
    if not cells:
        return ""
    return "<div class='gal'>" + "".join(cells) + "</div>"


def cbc_section_html(analysis_dir: str | Path) -> str:
    """The section, or "" when the analysis made no ``cbc.json`` (red cells switched off)."""
    root = Path(analysis_dir)
    path = root / "cbc.json"
    if not path.exists():
        return ""
    doc = json.loads(path.read_text(encoding="utf-8"))
    reviewed = reviewed_smear(root.parent, float(doc.get("confidence", 0.95)))
    hb, size = doc["haemoglobin"], doc["size"]
    hists = []
    if hb.get("measured") and hb.get("histogram"):
        h = hb["histogram"]
        hists.append(histogram_svg(h["edges_pg"], h["counts"], "haemoglobin per cell (pg)"))
    if size.get("measured") and size.get("histogram"):
        h = size["histogram"]
        hists.append(histogram_svg(h["edges_um"], h["counts"], "diameter (um)"))
    return (
        _STYLE
        + '<div class="rbc"><h2>Red cells and platelets</h2>'
        + '<p class="muted">Label-free, from the absorbance of each red cell (haemoglobin mass) '
        "and its outline. <b>The haemoglobin calibration and the morphology classifier are "
        "validated on simulated smears only.</b></p>"
        + _flags(doc)
        + _reviewed_note(reviewed)
        + '<div class="row">'
        + _indices(doc)
        + "<div>"
        + _morphology(doc, reviewed)
        + f'<div class="hists">{"".join(hists)}</div>'
        + "</div></div>"
        + _gallery(root)
        + "</div>"
    )
