"""What feeding the analysis only saved tiles costs the engine: a scan with a lossless sink
that does nothing (the engine waits for each tile's write before feeding it) against the
same scan without one (writing overlaps the next tile). On the simulator acquisition costs
only the rendering, so this is the worst case: on a rig the exposures and moves hide more.

    python benchmarks/bench_saved_before_analysis.py [tiles]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.tiles import Tile
from uvscope.config import load_rig, load_scan
from uvscope.drivers.rig import build_rig
from uvscope.io.stage_sink import StageMosaicSink


class NullAnalysis:
    """A lossless sink that takes no time: only the wait for the write is measured."""

    lossless = True

    def put(self, tile: Tile) -> None:
        pass

    def close(self) -> None:
        pass


def one(columns: int, sinks: list[NullAnalysis]) -> float:
    scan = load_scan(None).replace(
        region={"center_mm": (42.5, 32.5), "rows": 1, "columns": columns},
        focus={"mode": "fixed", "refocus_threshold": 0.0},
    )
    with tempfile.TemporaryDirectory() as tmp:
        rig = build_rig(load_rig(None))
        engine = ScanEngine(rig, scan, Path(tmp) / "s", sinks=[*sinks, StageMosaicSink()])
        times: list[float] = []
        engine.events.tile_acquired.connect(lambda tile: times.append(time.monotonic()))
        summary = engine.run()
        rig.close()
    assert summary.status == "complete"
    return (times[-1] - times[0]) / (columns - 1)


def main() -> None:
    columns = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    rig = load_rig(None)
    print(f"{columns} tiles of {rig.camera.width_px} x {rig.camera.height_px} px, default scan")
    for label, sinks in (("writer only", []), ("with a lossless sink", [NullAnalysis()])):
        per_tile = min(one(columns, sinks) for _ in range(3))
        print(f"{label:>22}: {per_tile * 1000:.0f} ms a tile (wall, first to last tile)")


if __name__ == "__main__":
    main()
