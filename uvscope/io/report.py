"""The HTML report of an analysed scan: one self-contained file (inline SVG, embedded PNGs).

Reads only what the analysis wrote (DIR/analysis) and the scan folder, so ``uvscope report``
can be re-run at any time without the networks.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from uvscope.analysis.review import ReviewedLabel, load_reviewed_labels, reviewed_differential
from uvscope.errors import StorageError

CLASS_ORDER = ("neutrophil", "eosinophil", "basophil", "lymphocyte", "monocyte")
COLOURS = {
    "neutrophil": "#e66101",
    "eosinophil": "#d62728",
    "basophil": "#9467bd",
    "lymphocyte": "#1f77b4",
    "monocyte": "#2ca02c",
}


def png_data_uri(img: np.ndarray) -> str:
    """A PNG of a uint8 gray or RGB image as a data: URI."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_u8(gray: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    g = np.asarray(gray, np.float32)
    finite = g[np.isfinite(g)]
    if lo is None or hi is None:
        lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
    span = max(float(hi) - float(lo), 1e-6)
    return (np.clip((np.nan_to_num(g, nan=float(lo)) - lo) / span, 0, 1) * 255 + 0.5).astype(
        np.uint8
    )


def bar_chart_svg(classes: list[dict[str, Any]], width: int = 560, height: int = 260) -> str:
    """Percent per class as bars with their confidence intervals as whiskers."""
    left, bottom, top = 48, 40, 12
    plot_h = height - bottom - top
    n = max(len(classes), 1)
    slot = (width - left - 10) / n
    ymax = max([c["ci_high_percent"] for c in classes] + [10.0])
    ymax = min(100.0, float(np.ceil(ymax / 10.0) * 10.0))

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
            f'text-anchor="middle">{html.escape(c["name"])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(diff: dict[str, Any]) -> str:
    conf = 100 * float(diff.get("confidence", 0.95))
    rows = [f"<table><tr><th>class</th><th>count</th><th>%</th><th>{conf:.0f} % CI</th></tr>"]
    for c in diff["classes"]:
        sw = f'<span class="swatch" style="background:{COLOURS.get(c["name"], "#888")}"></span>'
        rows.append(
            f"<tr><td>{sw}{html.escape(c['name'])}</td><td>{c['count']}</td>"
            f"<td>{c['percent']:.1f}</td>"
            f"<td>{c['ci_low_percent']:.1f} - {c['ci_high_percent']:.1f}</td></tr>"
        )
    rows.append(f"<tr><th>healthy WBCs</th><th>{diff['healthy']}</th><th></th><th></th></tr>")
    rows.append(
        f"<tr><td>dead cells (not in the differential)</td><td>{diff['dead']}</td>"
        "<td></td><td></td></tr></table>"
    )
    return "".join(rows)


def _ci(c: dict[str, Any]) -> str:
    return f"{c['ci_low_percent']:.1f} - {c['ci_high_percent']:.1f}"


def _comparison_table(auto: dict[str, Any], reviewed: dict[str, Any]) -> str:
    """The automatic and the reviewed differential side by side, class by class."""
    conf = 100 * float(auto.get("confidence", 0.95))
    rev = {c["name"]: c for c in reviewed["classes"]}
    rows = [
        '<table class="compare"><tr><th></th><th colspan="3">automatic</th>'
        '<th colspan="3">after review</th></tr>'
        "<tr><th>class</th>" + f"<th>count</th><th>%</th><th>{conf:.0f} % CI</th>" * 2 + "</tr>"
    ]
    for c in auto["classes"]:
        r = rev[c["name"]]
        sw = f'<span class="swatch" style="background:{COLOURS.get(c["name"], "#888")}"></span>'
        rows.append(
            f"<tr><td>{sw}{html.escape(c['name'])}</td>"
            f"<td>{c['count']}</td><td>{c['percent']:.1f}</td><td>{_ci(c)}</td>"
            f"<td>{r['count']}</td><td>{r['percent']:.1f}</td><td>{_ci(r)}</td></tr>"
        )
    rows.append(
        f"<tr><th>healthy WBCs</th><th>{auto['healthy']}</th><th></th><th></th>"
        f"<th>{reviewed['healthy']}</th><th></th><th></th></tr>"
        f"<tr><td>dead cells (not in the differential)</td><td>{auto['dead']}</td>"
        f"<td></td><td></td><td>{reviewed['dead']}</td><td></td><td></td></tr></table>"
    )
    return "".join(rows)


def _reviewed_cells_html(reviewed: dict[str, ReviewedLabel], automatic: dict[str, str]) -> str:
    """Every reviewed cell: id, tile, automatic class -> reviewed class."""
    rows = [
        '<table class="reviewed"><tr><th>cell</th><th>tile</th><th>automatic</th>'
        "<th></th><th>reviewed</th></tr>"
    ]
    missing = 0
    for cell_id in sorted(reviewed):  # ids are zero-padded: tile then label order
        r = reviewed[cell_id]
        auto = automatic.get(cell_id)
        note = ""
        if auto is None:
            missing += 1
            auto, note = r.predicted, " *"
        rows.append(
            f"<tr><td>{html.escape(cell_id)}{note}</td><td>{r.tile}</td>"
            f"<td>{html.escape(auto)}</td><td>&rarr;</td><td>{html.escape(r.reviewed)}</td></tr>"
        )
    rows.append("</table>")
    if missing:
        rows.append(
            f'<p class="warn">* {missing} reviewed cell(s) are not in cells.csv (the scan was '
            "re-analysed after the review?): they are not in the reviewed differential.</p>"
        )
    return "".join(rows)


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _mosaic_html(root: Path, max_side: int = 1200) -> str:
    import tifffile

    path = root / "mosaic_stained.ome.tif"
    if not path.exists():
        path = root / "mosaic_gray.ome.tif"
    if not path.exists():
        return '<p class="muted">No mosaic was written.</p>'
    with tifffile.TiffFile(path) as tif:
        levels = tif.series[0].levels
        lev = next((lv for lv in levels if max(lv.shape[:2]) <= max_side), levels[-1])
        img = lev.asarray()
        outline_path = root / "mosaic_outlines.ome.tif"
    if img.ndim == 2:
        img = np.repeat(to_u8(img)[..., None], 3, axis=2)
    if outline_path.exists():
        with tifffile.TiffFile(outline_path) as tif:
            ol = next((lv for lv in tif.series[0].levels if lv.shape[:2] == img.shape[:2]), None)
            if ol is not None:
                o = ol.asarray()
                m = o.any(axis=2)
                img = img.copy()
                img[m] = o[m]
    return (
        f'<p class="muted">{path.name}, {img.shape[1]} x {img.shape[0]} px thumbnail '
        f'with class-coloured outlines.</p><img alt="mosaic" style="max-width:100%" '
        f'src="{png_data_uri(img.astype(np.uint8))}">'
    )


def _gallery_html(
    scan_dir: Path,
    root: Path,
    cells: list[dict[str, str]],
    wavelength: int,
    reviewed: dict[str, ReviewedLabel] | None = None,
    per_class: int = 12,
    half: int = 48,
) -> str:
    from uvscope.io.ome import read_ome_tiff

    cache: dict[tuple[str, int], np.ndarray | None] = {}

    def load(kind: str, tile: int) -> np.ndarray | None:
        key = (kind, tile)
        if key not in cache:
            if kind == "stained":
                p = root / "stained" / f"tile_{tile:05d}.tif"
            else:
                p = scan_dir / "tiles" / f"tile_{tile:05d}_{wavelength}.ome.tif"
                if not p.exists():
                    p = root / ".gray" / f"tile_{tile:05d}.tif"
            cache[key] = read_ome_tiff(p)[0] if p.exists() else None
        return cache[key]

    def crop(img: np.ndarray, r: int, c: int) -> np.ndarray:
        pad = [(half, half), (half, half)] + [(0, 0)] * (img.ndim - 2)
        return np.pad(img, pad, mode="edge")[r : r + 2 * half, c : c + 2 * half]

    out = []
    for name in (*CLASS_ORDER, "dead"):
        chosen = [c for c in cells if c["cell_class"] == name][:per_class]
        out.append(f"<h3>{html.escape(name)} ({sum(c['cell_class'] == name for c in cells)})</h3>")
        if not chosen:
            out.append('<p class="muted">none</p>')
            continue
        out.append('<div class="gallery">')
        for c in chosen:
            t, r, col = int(c["tile"]), int(float(c["row"])), int(float(c["col"]))
            g, s = load("gray", t), load("stained", t)
            pics = []
            if s is not None:
                pics.append(crop(s, r, col))
            if g is not None:
                gc = to_u8(crop(g, r, col), 0.0, 1.05)
                pics.append(np.repeat(gc[..., None], 3, axis=2))
            if not pics:
                continue
            img = np.concatenate(pics, axis=1).astype(np.uint8)
            p_max = max(float(c.get(f"p_{k}", 0) or 0) for k in CLASS_ORDER)
            review = (reviewed or {}).get(c["cell_id"])
            note = f"<br><b>reviewed: {html.escape(review.reviewed)}</b>" if review else ""
            out.append(
                f'<div class="cell"><img src="{png_data_uri(img)}" alt="{c["cell_id"]}">'
                f"<br>{html.escape(c['cell_id'])} p={p_max:.2f}{note}</div>"
            )
        out.append("</div>")
    return "".join(out)


def _provenance_html(scan_dir: Path, doc: dict[str, Any]) -> str:
    manifest: dict[str, Any] = {}
    mpath = scan_dir / "manifest.json"
    if mpath.exists():
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    scan = {k: manifest.get(k) for k in ("software", "created", "plan") if k in manifest}
    if "status" in manifest:  # the on-the-fly report is written before the scan finishes
        scan["status when this report was written"] = manifest["status"]
    if "plan" in scan and isinstance(scan["plan"], dict):
        scan["plan"] = {k: v for k, v in scan["plan"].items() if k != "positions"}
    blocks = [
        ("Scan", scan),
        ("Scan configuration", manifest.get("config", {})),
        ("Rig", manifest.get("rig", {}).get("name") if manifest.get("rig") else None),
        ("Models", doc.get("models", {})),
        ("Analysis settings", doc.get("settings", {})),
        (
            "Registration",
            {k: v for k, v in doc.get("mosaic", {}).items() if k not in ("pairs", "positions_px")},
        ),
    ]
    return "".join(
        f"<h3>{html.escape(t)}</h3><pre>{html.escape(json.dumps(v, indent=2, default=str))}</pre>"
        for t, v in blocks
    )


def write_report(scan_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write DIR/analysis/report.html (or ``out``) from an analysed scan folder."""
    scan_dir = Path(scan_dir)
    root = scan_dir / "analysis"
    dpath = root / "differential.json"
    if not dpath.exists():
        raise StorageError(
            f"{scan_dir} has no analysis results ({dpath} is missing); "
            f"run `uvscope analyze {scan_dir}` first"
        )
    doc = json.loads(dpath.read_text(encoding="utf-8"))
    diff = doc["differential"]
    cells: list[dict[str, str]] = []
    cpath = root / "cells.csv"
    if cpath.exists():
        with open(cpath, newline="", encoding="utf-8") as fh:
            cells = list(csv.DictReader(fh))
    failed = doc.get("tiles", {}).get("failed", {})
    notes = []
    if failed:
        notes.append(
            f'<p class="warn">{len(failed)} tile(s) failed analysis: '
            f"{html.escape(', '.join(sorted(failed)))} (see differential.json).</p>"
        )
    left_out = doc.get("tiles", {}).get("left_out_of_counting", [])
    if left_out:
        notes.append(
            f'<p class="warn">tiles left out of counting: {len(left_out)} (flagged out of focus '
            f"by the scan: {html.escape(', '.join(map(str, left_out)))}); their cells are in "
            "the mosaic but not in the differential.</p>"
        )
    if diff.get("stop_rule"):
        notes.append(f"<p>{html.escape(str(diff['stop_rule']))}.</p>")
    elif diff.get("stop_after_wbc"):
        notes.append(f"<p>Stop rule: {diff['stop_after_wbc']} healthy WBCs.</p>")
    for text in diff.get("warnings") or []:
        notes.append(f'<p class="warn">Warning: {html.escape(str(text))}.</p>')
    wavelength = int(doc.get("settings", {}).get("inference", {}).get("wavelength_nm", 260))
    reviewed = load_reviewed_labels(scan_dir)
    table, reviewed_html, reviewed_note = _table(diff), "", ""
    chart = bar_chart_svg(diff["classes"])
    if reviewed:
        rev = reviewed_differential(
            ((c["cell_id"], c["cell_class"]) for c in cells),
            reviewed,
            confidence=float(diff.get("confidence", 0.95)),
            stop_after_wbc=diff.get("stop_after_wbc"),
        ).to_dict()
        table = _comparison_table(diff, rev)
        reviewed_note = f"; {len(reviewed)} cell(s) reclassified by review"
        reviewed_html = (
            f"<h3>Reviewed cells ({len(reviewed)})</h3>"
            '<p class="muted">From analysis/reviewed_labels.csv: the reviewer\'s class replaces '
            "the automatic one in the reviewed differential.</p>"
            + _reviewed_cells_html(reviewed, {c["cell_id"]: c["cell_class"] for c in cells})
        )
        chart = (
            '<div class="charts">'
            + _figure(bar_chart_svg(diff["classes"]), "automatic")
            + _figure(bar_chart_svg(rev["classes"]), "after review")
            + "</div>"
        )
    manifest_name = scan_dir.name
    text = resources.files("uvscope.io").joinpath("templates/report.html").read_text("utf-8")
    page = Template(text).substitute(
        title=html.escape(f"{manifest_name}: white-cell differential"),
        subtitle=html.escape(
            f"{diff['healthy']} healthy WBCs, {diff['dead']} dead; "
            f"{diff['tiles_analysed']} tiles analysed, {diff['tiles_failed']} failed; "
            f"report made {doc.get('created', '')}{reviewed_note}"
        ),
        differential_table=table,
        notes="".join(notes),
        chart=chart,
        reviewed=reviewed_html,
        mosaic=_mosaic_html(root),
        gallery=_gallery_html(scan_dir, root, cells, wavelength, reviewed),
        wavelength=wavelength,
        provenance=_provenance_html(scan_dir, doc),
    )
    target = Path(out) if out is not None else root / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
