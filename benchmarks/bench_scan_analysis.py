"""Scan time with on-the-fly analysis vs without, and the analysis lag, on the simulated rig
in real-time mode (devices take their modelled time on the wall clock).

    PYTHONPATH=. python benchmarks/bench_scan_analysis.py [--rows 2 --columns 3] [--device auto]

Lag = time from the last tile acquired to the final results (cell table, differential,
mosaics and report written).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.engine import ScanEngine  # noqa: E402
from uvscope.analysis.session import session_for_scan  # noqa: E402
from uvscope.config import load_rig, load_scan  # noqa: E402
from uvscope.sim.devices import build_sim_rig  # noqa: E402


def run(rows: int, cols: int, analysis: bool, device: str) -> tuple[float, float, float]:
    rig_cfg = load_rig(None)
    rig_cfg = rig_cfg.replace(sim={**rig_cfg.sim.model_dump(), "real_time": True})
    scan = load_scan(None).replace(
        region={"center_mm": (42.5, 32.5), "rows": rows, "columns": cols},
        analysis={"enabled": analysis, "device": device},
    )
    out = Path(tempfile.mkdtemp()) / "scan"
    sinks = [session_for_scan(scan, out)] if analysis else []
    rig = build_sim_rig(rig_cfg)
    engine = ScanEngine(rig, scan, out, sinks=sinks)
    last = {}
    engine.events.tile_acquired.connect(lambda t: last.__setitem__("t", time.monotonic()))
    t0 = time.monotonic()
    summary = engine.run()
    t1 = time.monotonic()
    assert summary.status == "complete", summary
    shutil.rmtree(out.parent)
    return t1 - t0, summary.device_time_s, t1 - last["t"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--columns", type=int, default=3)
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()
    n = a.rows * a.columns
    plain, dev, _ = run(a.rows, a.columns, False, a.device)
    with_an, _, lag = run(a.rows, a.columns, True, a.device)
    print(f"{n} tiles, real-time simulated rig, 1392 x 1040, 260 nm")
    print(f"scan without analysis: {plain:.1f} s wall (device time {dev:.1f} s)")
    print(f"scan with analysis:    {with_an:.1f} s wall")
    print(f"ratio with/without:    {with_an / plain:.2f}")
    print(f"lag after the last tile (tile time {plain / n:.2f} s): {lag:.1f} s")


if __name__ == "__main__":
    main()
