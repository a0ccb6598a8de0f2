"""Dump what deterministic simulated scans leave, to compare two versions of the scan loop.

Scans on the virtual clock: a map scan with a focus step the map cannot know (re-focus and
retake), a dimming lamp (background retaken on drift), a background schedule, three transient
device faults and a spent retry budget. Each scan is wired by ``prepare_scan``, as `uvscope
scan` wires it (the stage mosaics included). For each it writes the tile records, the events
(less their wall time and CRC), the manifest's status, backgrounds and focus, the summary (with
the device time), the order and z of the delivered tiles, the folder's file listing and a
digest of each stage mosaic's pixels. Run it on two trees and diff::

    PYTHONPATH=/path/to/old python benchmarks/scan_behaviour_dump.py /tmp/old.json
    PYTHONPATH=$PWD python benchmarks/scan_behaviour_dump.py /tmp/new.json
    diff /tmp/old.json /tmp/new.json

``--ignore`` names record keys to leave out (keys one version adds). Needs the repository's
``tests`` package (the small simulated worlds) on the path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from tests.acquisition._focus_world import small_rig, small_scan
from tests.acquisition.test_drift import DimAfter
from tests.acquisition.test_focus_map import BumpedWorld
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.prepare import prepare_scan
from uvscope.errors import UvscopeError
from uvscope.sim.faults import FaultInjector

FAULTS = [
    ("camera", "read", "frame_timeout", 6),
    ("stage", "wait", "timeout", 6),
    ("camera", "trigger", "disconnect", 3),
]


class StopAfter:
    """A lossless sink whose stop rule fires once ``n`` tiles are in (and that can interrupt
    the scan there instead)."""

    lossless = True

    def __init__(self, n: int, interrupt: ScanEngine | None = None) -> None:
        self.n, self.seen, self.interrupt = n, 0, interrupt

    def put(self, tile: object) -> None:
        self.seen += 1
        if self.interrupt is not None and self.seen == self.n:
            self.interrupt.interrupt("benchmark interrupt")

    def should_stop(self) -> bool:
        return self.interrupt is None and self.seen >= self.n

    def close(self) -> None:
        pass


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _dump(out: Path, engine: ScanEngine, order: list[Any], ignore: set[str]) -> dict[str, Any]:
    recs = _lines(out / "tiles.jsonl")
    for r in recs:
        r.pop("crc32", None)
        if r.get("extra"):
            r["extra"] = {k: v for k, v in r["extra"].items() if k not in ignore}
    events = [
        {k: v for k, v in e.items() if k not in ("time", "crc32", "traceback_file")}
        for e in _lines(out / "events.jsonl")
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    s = engine.summary
    summary = None if s is None else [s.status, s.tiles_done, s.device_time_s, s.message]
    return {
        "records": recs,
        "events": events,
        "manifest": {k: manifest.get(k) for k in ("status", "backgrounds", "focus")},
        "summary": summary,
        "delivered": order,
        "files": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()),
        "stage_mosaics": {p.name: _pixels(p) for p in sorted((out / "mosaic").glob("*.tif"))},
    }


def _pixels(path: Path) -> str:
    """The mosaic's shape, dtype and a digest of its full-resolution pixels."""
    img = np.ascontiguousarray(tifffile.imread(path))
    return f"{img.shape} {img.dtype} {hashlib.sha256(img.tobytes()).hexdigest()[:16]}"


def _run(engine: ScanEngine, out: Path, ignore: set[str]) -> dict[str, Any]:
    order: list[Any] = []
    engine.events.tile_acquired.connect(
        lambda t: order.append([t.index, round(t.z_um, 6), t.background_id])
    )
    try:
        engine.run()
    except UvscopeError:
        pass  # the spent budget: its summary and files are what is compared
    return _dump(out, engine, order, ignore)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="JSON file to write")
    ap.add_argument("--ignore", nargs="*", default=["frame_index", "frame_time_s"])
    args = ap.parse_args()
    ignore = set(args.ignore)
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rig, _ = small_rig(BumpedWorld(128, 96, 0.5))
        scan = small_scan(center=(44.0, 33.0), columns=9, mode="map", map_points=3)
        res["refocus"] = _run(prepare_scan(rig, scan, d / "a"), d / "a", ignore)
        rig, world = small_rig()
        eng = prepare_scan(rig, small_scan(columns=14), d / "b", sinks=[DimAfter(world, 5, 0.85)])
        res["drift"] = _run(eng, d / "b", ignore)
        sched = small_scan(columns=8)
        bg = sched.background.model_copy(update={"repeat_every_tiles": 3})
        rig, _ = small_rig()
        eng = prepare_scan(rig, sched.model_copy(update={"background": bg}), d / "c")
        res["schedule"] = _run(eng, d / "c", ignore)
        for i, (dev, op, fault, after) in enumerate(FAULTS):
            faults = FaultInjector()
            faults.add(dev, op, fault, after=after, count=1)
            rig, _ = small_rig(faults=faults)
            out = d / f"f{i}"
            res[f"fault {dev} {op}"] = _run(
                prepare_scan(rig, small_scan(rows=2, columns=4), out), out, ignore
            )
        faults = FaultInjector()
        faults.add("camera", "read", "frame_timeout", after=6, count=50)
        rig, _ = small_rig(faults=faults)
        res["budget spent"] = _run(
            prepare_scan(rig, small_scan(rows=2, columns=4), d / "e"), d / "e", ignore
        )
        rig, _ = small_rig()
        res["stop rule"] = _run(
            prepare_scan(rig, small_scan(columns=8), d / "g", sinks=[StopAfter(3)]), d / "g", ignore
        )
        rig, _ = small_rig()
        eng = prepare_scan(rig, small_scan(columns=8), d / "h")
        eng.user_sinks.append(StopAfter(3, interrupt=eng))
        res["interrupted"] = _run(eng, d / "h", ignore)
        rig, _ = small_rig()
        res["resumed"] = _run(
            prepare_scan(rig, small_scan(columns=8), d / "h", resume=True), d / "h", ignore
        )
        text = json.dumps(res, indent=1, sort_keys=True).replace(tmp, "<tmp>")
    args.out.write_text(text)
    for name, r in res.items():
        print(f"{name}: {r['summary'][:3]}, {len(r['records'])} records, {len(r['events'])} events")


if __name__ == "__main__":
    main()
