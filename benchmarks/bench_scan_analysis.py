"""Scan time with on-the-fly analysis vs without, and the analysis lag, on the simulated rig
in real-time mode (devices take their modelled time on the wall clock).

    PYTHONPATH=. python benchmarks/bench_scan_analysis.py [--rows 2 --columns 3] [--device auto]
        [--engine auto|torch|openvino|onnxruntime] [--repeats 1]
    PYTHONPATH=. python benchmarks/bench_scan_analysis.py --stop-after-wbc 200 --rows 30 \
        --columns 30

Lag = time from the last tile acquired to the final results (cell table, differential,
mosaics and report written). ``--repeats`` alternates the engines given (``--engine
auto,torch``) so both see the same outside load. ``--stop-after-wbc N`` runs the stop rule's
scan instead: the region is the upper bound, the scan ends once N healthy WBCs are counted;
it prints the wall time to the differential and its ratio to the hardware-limited (device)
time of the tiles actually scanned.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from uvscope.acquisition.engine import ScanEngine  # noqa: E402
from uvscope.analysis.session import session_for_scan  # noqa: E402
from uvscope.config import load_rig, load_scan  # noqa: E402
from uvscope.io.stage_sink import StageMosaicSink  # noqa: E402
from uvscope.report.page import write_report  # noqa: E402
from uvscope.sim.devices import build_sim_rig  # noqa: E402


def run(
    rows: int,
    cols: int,
    analysis: bool,
    device: str,
    engine: str = "auto",
    stop_after_wbc: int | None = None,
) -> dict[str, float]:
    rig_cfg = load_rig(None)
    rig_cfg = rig_cfg.replace(sim={**rig_cfg.sim.model_dump(), "real_time": True})
    tmp = Path(tempfile.mkdtemp())
    settings = tmp / "analysis.toml"
    settings.write_text(f'[inference]\nengine = "{engine}"\n')
    scan = load_scan(None).replace(
        region={"center_mm": (42.5, 32.5), "rows": rows, "columns": cols},
        analysis={
            "enabled": analysis,
            "device": device,
            "settings": settings,
            "stop_after_wbc": stop_after_wbc,
        },  # fmt: skip
    )
    out = tmp / "scan"
    sinks = [session_for_scan(scan, out, report=write_report)] if analysis else []
    rig = build_sim_rig(rig_cfg)
    engine_ = ScanEngine(rig, scan, out, sinks=[*sinks, StageMosaicSink()])
    last = {}
    engine_.events.tile_acquired.connect(lambda t: last.__setitem__("t", time.monotonic()))
    t0 = time.monotonic()
    summary = engine_.run()
    t1 = time.monotonic()
    assert summary.status in ("complete", "stopped-early"), summary
    res = {"wall": t1 - t0, "device": summary.device_time_s, "lag": t1 - last["t"],
           "tiles": summary.tiles_done, "status": summary.status}  # fmt: skip
    diff = out / "analysis" / "differential.json"
    if diff.exists():
        res["healthy"] = json.loads(diff.read_text())["differential"]["healthy"]
    shutil.rmtree(tmp)
    return res


class _StopAfter:
    """A lossy sink that asks the engine to stop once it has seen ``n`` tiles."""

    lossless = False

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def put(self, tile: object) -> None:
        self.seen += 1

    def close(self) -> None:
        pass

    def should_stop(self) -> bool:
        return self.seen >= self.n


def hardware_limited_s(rows: int, cols: int, n_tiles: int) -> float:
    """Device seconds for the first ``n_tiles`` of the same scan (dark and background frames
    included): the scan without analysis on the virtual clock with constant frames, where the
    engine reaches the hardware's lower bound (bench_acquisition.py: efficiency 1.000)."""
    from bench_acquisition import CheapWorld

    scan = load_scan(None).replace(
        region={"center_mm": (42.5, 32.5), "rows": rows, "columns": cols}, save_raw=False
    )
    tmp = Path(tempfile.mkdtemp())
    cfg = load_rig(None)
    rig = build_sim_rig(cfg, renderer=CheapWorld(cfg.camera.width_px, cfg.camera.height_px))
    summary = ScanEngine(
        rig, scan, tmp / "scan", sinks=[_StopAfter(n_tiles), StageMosaicSink()]
    ).run()
    shutil.rmtree(tmp)
    return summary.device_time_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--columns", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--engine", default="auto", help="one engine, or several (auto,torch)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--stop-after-wbc", type=int, default=None)
    a = ap.parse_args()
    engines = a.engine.split(",")
    if a.stop_after_wbc:
        for e in engines:
            r = run(a.rows, a.columns, True, a.device, e, a.stop_after_wbc)
            hw = hardware_limited_s(a.rows, a.columns, int(r["tiles"]))
            print(
                f"stop rule {a.stop_after_wbc} WBCs, engine {e}: {r['status']} after "
                f"{r['tiles']} tiles, {r.get('healthy')} healthy WBCs counted; wall "
                f"{r['wall']:.1f} s to every end product (lag after the last tile "
                f"{r['lag']:.1f} s); hardware-limited time of those tiles {hw:.1f} s; "
                f"ratio {r['wall'] / hw:.2f}"
            )
        return
    n = a.rows * a.columns
    plain = run(a.rows, a.columns, False, a.device)
    print(f"{n} tiles, real-time simulated rig, 1392 x 1040, 260 nm")
    print(f"scan without analysis: {plain['wall']:.1f} s wall (device {plain['device']:.1f} s)")
    for rep in range(a.repeats):
        for e in engines if rep % 2 == 0 else engines[::-1]:
            r = run(a.rows, a.columns, True, a.device, e)
            print(
                f"engine {e:8s} scan with analysis {r['wall']:.1f} s wall, ratio with/without "
                f"{r['wall'] / plain['wall']:.2f}, lag after the last tile to every end product "
                f"{r['lag']:.1f} s (tile time {plain['wall'] / n:.2f} s)"
            )


if __name__ == "__main__":
    main()
