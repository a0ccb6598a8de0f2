"""A realistic analysed scan folder for report tests: tiles, mosaic, cells, model cards.

Sizes are those of a real scan's outputs (1040 x 1392 tiles, a multi-megapixel mosaic,
hundreds of cells, model cards with their epoch histories), so the printed page count is
what an operator would get; it takes well under a second to write.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np

from uvscope.analysis.differential import DifferentialCounter
from uvscope.analysis.review import REVIEWED_CSV, REVIEWED_FIELDS
from uvscope.analysis.settings import CLASSES
from uvscope.classes import PRECLASSES
from uvscope.io.mosaic_pyramid import write_pyramid
from uvscope.io.ome import ImageMeta, write_ome_tiff

CELL_FIELDS = ["cell_id", "tile", "row", "col", "cell_class", "p_dead"] + [
    f"p_{k}" for k in (*CLASSES, *PRECLASSES)
]


def shipped_card(kind: str) -> dict:
    text = resources.files("uvscope.models").joinpath(f"weights/{kind}.json").read_text("utf-8")
    return json.loads(text)


def make_scan(
    root: Path,
    classes: list[str],
    *,
    low_confidence: int = 0,
    status: str = "complete",
    sample: dict | None = None,
    tiles: int = 3,
    images: bool = True,
) -> Path:
    """A scan folder whose analysis found one cell per entry of ``classes``."""
    scan = root / "scan"
    (scan / "analysis" / "stained").mkdir(parents=True)
    rng = np.random.default_rng(0)
    counter = DifferentialCounter()
    for cls in classes:
        counter.add(cls, dead=cls == "dead")
    models = {"segmenter": "default", "classifier": "default", "stainer": "default"}
    for key, kind in (("segmenter", "segment"), ("classifier", "classify"), ("stainer", "stain")):
        models[f"{key}_card"] = shipped_card(kind)
    doc = {
        "created": "2026-12-01T10:00:00+00:00",
        "differential": counter.snapshot().to_dict(),
        "tiles": {"analysed": list(range(tiles)), "failed": {}, "left_out_of_counting": []},
        "models": models,
        "settings": {"inference": {"wavelength_nm": 260}},
    }
    doc["differential"]["tiles_analysed"] = tiles
    (scan / "analysis" / "differential.json").write_text(json.dumps(doc))
    manifest = {
        "format": "uvscope-scan",
        "format_version": 1,
        "software": {"name": "uvscope", "version": "0.1.0"},
        "created": "2026-12-01T09:50:00+0000",
        "status": status,
        "config": {"name": "demo", "sample": sample or {}},
        "rig": {"name": "simulated deep-UV rig"},
        "plan": {"tiles": tiles, "positions": [[0, 0]] * tiles},
    }
    (scan / "manifest.json").write_text(json.dumps(manifest))
    with open(scan / "analysis" / "cells.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CELL_FIELDS)
        w.writeheader()
        for i, cls in enumerate(classes):
            p = {f"p_{k}": 0.01 for k in (*CLASSES, *PRECLASSES)}
            top = 0.45 if i < low_confidence else 0.96
            if cls != "dead":
                p[f"p_{cls}"] = top
            w.writerow(
                {
                    "cell_id": f"t{i % tiles:05d}c{i:04d}",
                    "tile": i % tiles,
                    "row": 100 + (i * 37) % 800,
                    "col": 100 + (i * 53) % 1100,
                    "cell_class": cls,
                    "p_dead": 0.97 if cls == "dead" else 0.01,
                    **p,
                }
            )
    if images:
        for t in range(tiles):
            img = rng.integers(0, 255, (1040, 1392, 3), dtype=np.uint8)
            write_ome_tiff(
                scan / "analysis" / "stained" / f"tile_{t:05d}.tif", img, ImageMeta(0.16)
            )
        mosaic = rng.integers(0, 255, (2400, 3600, 3), dtype=np.uint8)
        write_pyramid(scan / "analysis" / "mosaic_stained.ome.tif", mosaic, 0.16)
    return scan


def review(scan: Path, rows: list[tuple[str, str, str]]) -> None:
    with open(scan / REVIEWED_CSV, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REVIEWED_FIELDS)
        for cell_id, predicted, reviewed in rows:
            w.writerow([cell_id, int(cell_id[1:6]), "1.0", "2.0", predicted, reviewed])


def printed_pages(report: Path) -> int:
    """The A4 pages headless Chromium (Debian's ``chromium``) prints ``report`` on; the PDF is
    left beside it."""
    pdf = report.with_suffix(".pdf")
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", report.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf.read_bytes()))
