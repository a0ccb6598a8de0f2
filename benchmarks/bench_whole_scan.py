"""Whole-smear scans with analysis on: peak memory, time to the end products, disk per tile.

    PYTHONPATH=. nice -n 10 python benchmarks/bench_whole_scan.py --tiles 100 500 2000 \
        --models standin [--keep DIR]

Each scan runs in a fresh process on the built-in simulated rig (virtual clock, default scan
settings: 260 nm, 15 % overlap, raw frames kept, analysis on), so every peak RSS is that scan's
own. ``--models default`` uses the shipped networks; ``standin`` uses the fast threshold
stand-ins of the tests (same pipeline, post-processing, registration, mosaics and files; no
torch work), for scans too long to analyse with the real networks on 2 CPU cores.

Reported: peak RSS of the whole process and its peak after the last tile (registration solve,
mosaics, report), seconds from the moment the last tile's analysis result is in (before its
files are written and, with streamed mosaics, before the bands it completes are rendered) to
the end products (cell table,
differential, registration solve, the four analysis mosaics, report, stage mosaic) and from its
acquisition (on the virtual clock acquisition runs ahead of the analysis, so that one includes
the analysis backlog), disk use of the whole scan folder per tile-wavelength, and the
registration's accepted pairs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: give ROWSxCOLS, e.g. 6x80") from None
    return rows, cols


def _folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def one(
    tiles: int, models_name: str, keep: Path | None, shape: tuple[int, int] | None = None
) -> dict[str, object]:
    from uvscope.acquisition.engine import ScanEngine
    from uvscope.analysis.session import AnalysisSession
    from uvscope.analysis.settings import AnalysisSettings
    from uvscope.config import load_rig, load_scan
    from uvscope.io.stage_sink import StageMosaicSink
    from uvscope.report.page import write_report
    from uvscope.sim.devices import build_sim_rig

    if models_name == "standin":
        from tests.analysis.synth import fake_models

        models = fake_models()
    else:
        from uvscope.analysis.models import load_models

        models = load_models(models_name, models_name, models_name, device="cpu")
    if shape is None:
        cols = math.ceil(math.sqrt(tiles))
        rows = math.ceil(tiles / cols)
    else:
        rows, cols = shape
    scan = load_scan(None).replace(
        region={"center_mm": (42.5, 32.5), "rows": rows, "columns": cols}
    )
    base = keep if keep is not None else Path(tempfile.mkdtemp())
    out = base / f"scan_{rows}x{cols}_{models_name}"
    shutil.rmtree(out, ignore_errors=True)
    session = AnalysisSession(out, models, AnalysisSettings(), report=write_report)
    rig = build_sim_rig(load_rig(None))
    engine = ScanEngine(rig, scan, out, sinks=[session, StageMosaicSink()])
    marks: dict[str, float] = {}
    peaks = {"scan": 0.0, "end": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            phase = "end" if "last" in marks else "scan"
            peaks[phase] = max(peaks[phase], _rss_mib())

    def on_tile(t: object) -> None:
        marks["n"] = marks.get("n", 0) + 1
        if marks["n"] == rows * cols:
            marks["last"] = time.monotonic()

    finish = session.finish
    write_tile = session.outputs.write_tile

    def timed_write_tile(res: object) -> None:
        # the last tile's result is in: from here on it is end-of-scan work (with mosaics
        # streamed, this call also renders the bands that tile completes)
        marks["result_in"] = time.monotonic()
        write_tile(res)  # type: ignore[arg-type]

    session.outputs.write_tile = timed_write_tile  # type: ignore[method-assign]

    def timed_finish(*args: object) -> object:
        marks["finish"] = time.monotonic()  # the last tile is analysed: end products start
        return finish(*args)  # type: ignore[arg-type]

    session.finish = timed_finish  # type: ignore[method-assign]
    engine.events.tile_acquired.connect(on_tile)
    threading.Thread(target=sample, daemon=True).start()
    t0 = time.monotonic()
    summary = engine.run()
    t1 = time.monotonic()
    stop.set()
    if summary.status != "complete":
        raise SystemExit(f"scan ended {summary.status}: {summary.message}")
    doc = json.loads((out / "analysis" / "differential.json").read_text())
    size = _folder_bytes(out)
    result = {
        "tiles": rows * cols,
        "shape": f"{rows} x {cols}",
        "models": models_name,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_scan_mib": peaks["scan"],
        "peak_rss_after_last_tile_mib": peaks["end"],
        "wall_s": t1 - t0,
        "after_last_tile_s": t1 - marks.get("last", t1),
        "end_products_s": t1 - marks.get("result_in", t1),
        "finish_s": t1 - marks.get("finish", t1),
        "mb_per_tile_wavelength": size / 1e6 / (rows * cols),
        "folder_mb": size / 1e6,
        "cells": doc["differential"]["healthy"],
        "pairs_accepted": doc["mosaic"].get("pairs_accepted"),
        "pairs": len(doc["mosaic"].get("pairs", [])),
        "mosaic_scale": doc["mosaic"].get("scale"),
    }
    if keep is None:
        shutil.rmtree(base)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, nargs="+", default=[100])
    ap.add_argument("--models", default="standin", help="standin, or a registry name (default)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the scan folders here")
    ap.add_argument(
        "--shape",
        type=_shape,
        default=None,
        help="ROWSxCOLS instead of a square-ish region (e.g. 6x80, a strip); --tiles ignored",
    )
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.tiles[0], a.models, a.keep, a.shape)))
        return
    for n in a.tiles if a.shape is None else [a.shape[0] * a.shape[1]]:
        cmd = [sys.executable, __file__, "--one", "--tiles", str(n), "--models", a.models]
        if a.keep is not None:
            cmd += ["--keep", str(a.keep)]
        if a.shape is not None:
            cmd += ["--shape", f"{a.shape[0]}x{a.shape[1]}"]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(f"{n} tiles: failed\n{res.stderr[-3000:]}")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(
            f"{r['tiles']} tiles ({r['shape']}), {r['models']} models: "
            f"peak RSS {r['peak_rss_mib']:.0f} MiB "
            f"(scan {r['peak_rss_scan_mib']:.0f}, after the last tile "
            f"{r['peak_rss_after_last_tile_mib']:.0f}); end products {r['end_products_s']:.1f} s "
            f"after the last tile's result was in ({r['finish_s']:.1f} s after the worker "
            f"finished) ({r['after_last_tile_s']:.1f} s after it was "
            f"acquired); wall {r['wall_s']:.0f} s; "
            f"{r['mb_per_tile_wavelength']:.2f} MB per tile-wavelength; {r['cells']} cells; "
            f"pairs {r['pairs_accepted']}/{r['pairs']}; mosaic downsample {r['mosaic_scale']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
