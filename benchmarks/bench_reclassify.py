"""Re-classify the white cells of saved simulator scans with another classifier and score them
against the truth as ``bench_differential.py`` does: real-size figures for a candidate
classifier without re-scanning or re-segmenting.

    cp -a /tmp/bench-differential/healthy_1.5_-0.8 /tmp/copy/   # a kept scan (--keep)
    PYTHONPATH=. python benchmarks/bench_reclassify.py /tmp/copy/healthy_1.5_-0.8 [...] \
        --classifier CANDIDATE.safetensors

Each counted cell keeps the instance the scan's analysis found (``analysis/labels``); its
crop is cut from the stored tile by ``TilePipeline.crops`` and classified, and
``uvscope.analysis.cells.decide`` turns the outputs into the class, exactly as the analysis
does. ``analysis/cells.csv`` of the COPY is rewritten (never run it on a scan you keep); the
blast flag is not recomputed (the counted blast share is printed). Never asserts.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_differential import report  # noqa: E402

from uvscope.analysis.cells import decide  # noqa: E402
from uvscope.analysis.evaluate import evaluate_scan_folder  # noqa: E402
from uvscope.analysis.models import load_models  # noqa: E402
from uvscope.analysis.pipeline import TilePipeline  # noqa: E402
from uvscope.analysis.postprocess import Instances  # noqa: E402
from uvscope.analysis.settings import load_settings  # noqa: E402
from uvscope.io.ome import read_ome_tiff  # noqa: E402
from uvscope.io.scanfolder import ScanFolder  # noqa: E402


def reclassify(scan: Path, pipe: TilePipeline) -> int:
    """Rewrite ``scan``/analysis/cells.csv with ``pipe``'s classifier; returns cells changed."""
    path = scan / "analysis" / "cells.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0])
    names = pipe.class_names
    folder = ScanFolder(scan)
    s = pipe.settings
    own_checkpoint = getattr(pipe.models.classifier, "checkpoint", None) is None
    changed = 0
    for tile in sorted({int(r["tile"]) for r in rows}):
        gray, meta = folder.read_tile(tile, s.inference.wavelength_nm)
        stack = read_ome_tiff(scan / "analysis" / "labels" / f"tile_{tile:05d}.tif")[0]
        inst = Instances(stack[0].astype(np.int32), stack[1].astype(np.int32), {})
        crops, ids = pipe.crops(np.asarray(gray, np.float32), inst, meta.pixel_size_um)
        p_dead, p_class = pipe.classify(crops)
        pos = {lab: k for k, lab in enumerate(ids)}
        for r in (r for r in rows if int(r["tile"]) == tile):
            k = pos[int(r["label"])]
            cls, dead, rescued = decide(
                float(p_dead[k]),
                p_class[k],
                float(r["cell_area_um2"]),
                float(r["nucleus_area_um2"]),
                int(r["euler_number"]),
                float(r["mean_260"]),
                s.checkpoint,
                own_checkpoint,
                names,
            )
            changed += cls != r["cell_class"] or str(dead) != r["dead"]
            r.update(cell_class=cls, dead=str(dead), p_dead=f"{p_dead[k]:.6g}")
            r["checkpoint_rescued"] = str(rescued)
            for j, name in enumerate(names):
                if f"p_{name}" in r:
                    r[f"p_{name}"] = f"{p_class[k][j]:.6g}"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return changed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scans", nargs="+", type=Path)
    ap.add_argument("--classifier", required=True)
    args = ap.parse_args()
    pipe = TilePipeline(
        load_models("default", None, args.classifier, device="cpu"), load_settings(None)
    )
    for scan in args.scans:
        n = reclassify(scan, pipe)
        ev = evaluate_scan_folder(str(scan))
        done = "complete" if ev.tiles_acquired == ev.tiles_planned else "stopped-early"
        print(f"\n# {scan}: {n} cells changed class with {args.classifier}")
        r = {
            "donor": scan.name,
            "tilt": "as scanned",
            "summary": SimpleNamespace(status=done, device_time_s=0.0),
            "eval": ev,
            "wall_s": 0.0,
            "diff": None,
        }
        report(r)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
