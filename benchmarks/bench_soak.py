"""Soak: a long virtual-clock scan under many random faults, resumed after every clean stop.

Every simulated device fails at random (timeouts, disconnects, stalls, frame timeouts), a few
outages last longer than the retry budget (the scan must stop cleanly), the disk fills up now
and then, and an analysis sink raises on random tiles. After each clean stop the scan is
resumed, as `uvscope scan --resume` would, until it completes. Prints faults injected,
recoveries, clean stops, tiles lost (target 0) and files damaged (target 0).

    PYTHONPATH=. python benchmarks/bench_soak.py [--rows 20 --columns 30 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from uvscope.acquisition.engine import ScanEngine
from uvscope.config import CameraConfig, RegionConfig, RigConfig, ScanConfig, WavelengthConfig
from uvscope.errors import ScanError, StorageError
from uvscope.io.ome import read_ome_tiff
from uvscope.io.scanfolder import ScanFolder
from uvscope.io.stage_sink import StageMosaicSink
from uvscope.sim.devices import build_sim_rig
from uvscope.sim.faults import FaultInjector

DEVICE_FAULTS = [
    ("stage", "move", "stall"),
    ("stage", "move", "timeout"),
    ("stage", "wait", "timeout"),
    ("stage", "move", "disconnect"),
    ("focus", "move", "stall"),
    ("focus", "wait", "timeout"),
    ("filter_wheel", "move", "timeout"),
    ("filter_wheel", "wait", "disconnect"),
    ("camera", "trigger", "disconnect"),
    ("camera", "read", "frame_timeout"),
]


class FlakyAnalysis:
    """An analysis sink that raises on a random few tiles."""

    lossless = True

    def __init__(self, rng: random.Random, p: float) -> None:
        self.rng, self.p, self.raised = rng, p, 0

    def put(self, tile) -> None:
        if self.rng.random() < self.p:
            self.raised += 1
            raise RuntimeError(f"analysis failed on tile {tile.index} (injected)")

    def close(self) -> None:
        pass


def damaged_files(out: Path) -> list[str]:
    bad = [str(p) for p in out.rglob("*.part")]
    for p in out.rglob("*.tif"):
        try:
            read_ome_tiff(p)
        except StorageError as err:
            bad.append(f"{p}: {err}")
    folder = ScanFolder(out)
    for i, rec in folder.tile_records().items():
        for nm in rec.wavelengths:
            if not folder.tile_path(i, nm).exists():
                bad.append(f"journal names tile {i} at {nm} nm but its file is missing")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--columns", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--p", type=float, default=0.003, help="per-operation fault probability")
    ap.add_argument("--outages", type=int, default=4, help="faults lasting past the retries")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    n_tiles = args.rows * args.columns

    faults = FaultInjector(seed=args.seed)
    for device, op, fault in DEVICE_FAULTS:
        faults.add(device, op, fault, probability=args.p)
    for _ in range(args.outages):  # three failures in a row beat tile_retries=2... almost
        device, op, fault = rng.choice(DEVICE_FAULTS)
        faults.add(device, op, fault, after=rng.randrange(20, n_tiles), count=4)
    faults.add("disk", "write", "disk_full", probability=args.p / 3)

    cfg = RigConfig(camera=CameraConfig(width_px=96, height_px=72, pixel_size_um=0.16))
    rig = build_sim_rig(cfg, faults=faults)
    scan = ScanConfig(
        name="soak",
        region=RegionConfig(center_mm=(42.5, 32.5), rows=args.rows, columns=args.columns),
        wavelengths=(
            WavelengthConfig(nm=260, exposure_ms=50.0),
            WavelengthConfig(nm=280, exposure_ms=5.0),
        ),
        background={"frames": 2, "dark_frames": 2, "repeat_every_tiles": 150},
        save_raw=True,
    )
    sink = FlakyAnalysis(rng, 0.01)
    t0 = time.monotonic()
    stops: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "soak"
        resume, runs, status, device_s = False, 0, "", 0.0
        while runs < 100:
            runs += 1
            eng = ScanEngine(
                rig, scan, out, sinks=[sink, StageMosaicSink()], resume=resume, tile_retries=2
            )
            eng.storage_hook = faults.storage_hook()
            try:
                summary = eng.run()
                status = summary.status
                device_s += summary.device_time_s
                break
            except ScanError as err:
                stops.append(str(err).split(";")[0])
                if eng.summary is not None:
                    device_s += eng.summary.device_time_s
                resume = True
        folder = ScanFolder(out)
        events = folder.read_events()
        kinds = Counter(e["kind"] for e in events)
        done = folder.verified_tiles()
        lost = n_tiles - len(done)
        damaged = damaged_files(out)
        backgrounds = json.loads((out / "manifest.json").read_text())["backgrounds"]
    injected = Counter(f"{d}.{o}:{f}" for d, o, f in faults.log)
    print(f"soak: {n_tiles} tiles x 2 wavelengths, 96 x 72 px, virtual clock, seed {args.seed}")
    print(
        f"  final status: {status} after {runs} run(s); wall {time.monotonic() - t0:.1f} s; "
        f"device time {device_s / 60:.1f} min"
    )
    print(
        f"  faults injected: {len(faults.log)} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(injected.items()))})"
    )
    print(f"  analysis sink errors: {sink.raised} raised, {kinds['sink-error']} logged")
    print(
        f"  device errors logged: {kinds['device-error']}; tiles recovered by retry: "
        f"{kinds['recovered']}"
    )
    print(f"  clean stops (then resumed): {len(stops)}; resumes logged: {kinds['resume']}")
    for s in stops:
        print(f"    stop: {s[:150]}")
    print(f"  backgrounds taken: {len(backgrounds)} ({', '.join(b['id'] for b in backgrounds)})")
    print(f"  tiles lost: {lost} (target 0)")
    print(f"  files damaged: {len(damaged)} (target 0)")
    for d in damaged[:10]:
        print(f"    {d}")


if __name__ == "__main__":
    main()
