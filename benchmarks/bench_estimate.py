"""The set-up form's estimate against a real scan on the simulated rig, side by side.

    PYTHONPATH=. python benchmarks/bench_estimate.py [--rows 3 --columns 4] [--no-analysis]

Runs the scan (with the shipped models unless --no-analysis) and prints the estimated and
the measured tiles, wall time, bytes on disk and counted WBCs, and the auto-exposure found
per wavelength on the simulated camera (frames needed, bright level, saturated pixels).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from uvscope.config import RegionConfig, ScanConfig, load_rig
from uvscope.io.stage_sink import StageMosaicSink


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def scan_vs_estimate(rows: int, columns: int, analysis: bool) -> None:
    from uvscope.acquisition.engine import ScanEngine
    from uvscope.drivers.rig import build_rig
    from uvscope.gui.estimate import estimate_scan

    rig_cfg = load_rig(None)
    scan = ScanConfig(region=RegionConfig(center_mm=(42.5, 32.5), rows=rows, columns=columns))
    scan = scan.replace(analysis={"enabled": analysis})
    est = estimate_scan(scan, rig_cfg)
    out = Path(tempfile.mkdtemp(prefix="uvscope-bench-est-")) / "scan"
    sinks = []
    t0 = time.monotonic()
    if analysis:
        from uvscope.analysis.session import session_for_scan
        from uvscope.report.page import write_report

        sinks.append(session_for_scan(scan, out, report=write_report))
    rig = build_rig(rig_cfg)
    try:
        # the stage mosaics last, after the analysis, as prepare_scan wires them
        summary = ScanEngine(rig, scan, out, sinks=[*sinks, StageMosaicSink()]).run()
    finally:
        rig.close()
    wall = time.monotonic() - t0  # includes loading the models, as an operator waits for it
    wbc = None
    dpath = out / "analysis" / "differential.json"
    if dpath.exists():
        wbc = json.loads(dpath.read_text())["differential"]["healthy"]
    print(f"scan {rows} x {columns}, analysis {'on' if analysis else 'off'}: {summary.status}")
    print(f"  tiles      estimated {est.tiles:>8}   measured {summary.tiles_done:>8}")
    print(f"  wall s     estimated {est.total_s:>8.1f}   measured {wall:>8.1f}")
    print(
        f"  disk MB    estimated {est.disk_bytes / 1e6:>8.1f}   measured {_bytes(out) / 1e6:>8.1f}"
    )
    if wbc is not None:
        print(f"  WBCs       estimated {est.expected_wbc:>8.1f}   counted  {wbc:>8}")


def auto_exposures() -> None:
    from uvscope.drivers.rig import build_rig
    from uvscope.gui.exposure import auto_expose, bright_level, full_scale

    rig = build_rig(load_rig(None))
    cam = rig.camera
    level = full_scale(cam.bit_depth)
    for nm in (260, 280, 300):
        rig.filter_wheel.move_to_wavelength(nm)

        def snap(ms: float):  # noqa: ANN202
            cam.set_exposure_ms(ms)
            return cam.snap().image

        first = snap(50.0)
        sat0 = int((first >= level).sum())
        r = auto_expose(snap, 50.0, level, cam.exposure_range_ms)
        check = snap(r.exposure_ms)
        print(
            f"  {nm} nm: at 50 ms {100 * sat0 / first.size:5.1f} % saturated -> "
            f"{r.exposure_ms:7.2f} ms in {r.frames} frames, bright "
            f"{100 * bright_level(check) / level:4.1f} % of full scale, "
            f"{int((check >= level).sum())} px saturated"
        )
    rig.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--columns", type=int, default=4)
    ap.add_argument("--no-analysis", action="store_true")
    args = ap.parse_args()
    print("auto-exposure on the simulated camera (target 70 % of full scale):")
    auto_exposures()
    scan_vs_estimate(args.rows, args.columns, not args.no_analysis)


if __name__ == "__main__":
    main()
