"""GUI figures: live-view display rate and latency, and the longest event-loop stall in a scan.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python benchmarks/bench_gui.py [--seconds 5]

Live view: a producer thread makes 1392 x 1040 uint16 frames as fast as the camera model
allows (newest frame wins, the producer never waits for the display); the widget's timer pulls
and draws them. Latency is from the frame's creation to the end of its drawing.
Scan: the whole window runs a scan on the simulated rig, with the analysis on (the trained
models from the weights registry, as ``uvscope scan --analysis``; --no-analysis to leave it
off), while a 5 ms timer measures how late the event loop runs (a stall is the window being
frozen) until every tile's analysis has reached the mosaic and the gallery.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from uvscope.drivers.base import Frame, FrameMeta  # noqa: E402


class SyntheticCamera:
    """Frames at ``fps`` from a pool of noisy images; ``latest()`` is all the display sees."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:height, 0:width]
        base = 6000 + 3000 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
        self.pool = [
            np.clip(base + rng.normal(0, 200, base.shape), 0, 16383).astype(np.uint16)
            for _ in range(4)
        ]
        self.period = 1.0 / fps
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.produced = 0
        self.fps = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        t0 = time.perf_counter()
        while not self._stop.is_set():
            img = self.pool[self.produced % len(self.pool)]
            meta = FrameMeta(
                exposure_ms=50.0, timestamp_s=time.perf_counter(), frame_index=self.produced
            )
            with self._lock:
                self._latest = Frame(img, meta)
            self.produced += 1
            self.fps = self.produced / (time.perf_counter() - t0)
            self._stop.wait(self.period)

    def latest(self) -> Frame | None:
        with self._lock:
            return self._latest


def bench_live(app: QApplication, seconds: float, fps: float) -> dict[str, float]:
    from uvscope.gui.live_view import LiveViewWidget

    w = LiveViewWidget(0.16, display_hz=60.0)
    w.resize(1200, 900)
    w.show()
    cam = SyntheticCamera(1392, 1040, fps)
    latencies: list[float] = []
    draw_ms: list[float] = []
    orig = w.refresh

    def timed_refresh() -> bool:
        t0 = time.perf_counter()
        drew = orig()
        if drew:
            app.processEvents()  # let the view repaint, as the event loop would
            t1 = time.perf_counter()
            draw_ms.append((t1 - t0) * 1000)
            latencies.append((t1 - w.last_meta.timestamp_s) * 1000)  # type: ignore[union-attr]
        return drew

    w.timer.timeout.disconnect()
    w.timer.timeout.connect(timed_refresh)
    cam.start()
    w.set_source(cam, 260, 50.0)
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        app.processEvents()
        time.sleep(0.001)
    cam.stop()
    w.set_source(None)
    shown = w.frames_shown
    w.close()
    return {
        "camera_fps": cam.produced / seconds,
        "display_fps": shown / seconds,
        "draw_ms_median": statistics.median(draw_ms),
        "latency_ms_median": statistics.median(latencies),
        "latency_ms_p95": float(np.percentile(latencies, 95)),
    }


class _Renderer:
    """A stand-in slide (no full simulator needed for a stall measurement): noise + blobs."""

    def __init__(self, w: int, h: int) -> None:
        rng = np.random.default_rng(1)
        self.img = np.clip(8000 + rng.normal(0, 300, (h, w)), 0, 16383).astype(np.uint16)

    def blank_position_mm(self) -> tuple[float, float]:
        return (35.0, 25.0)

    def surface_z_um(self, x_mm: float, y_mm: float) -> float:
        return 5000.0

    def render(self, x_mm, y_mm, z_um, wavelength_nm, exposure_ms, rng):  # noqa: ANN001
        if wavelength_nm is None:
            return np.full(self.img.shape, 100, np.uint16)
        return np.roll(self.img, int(x_mm * 1000) % 97, axis=1)


def bench_idle(app: QApplication, seconds: float) -> dict[str, float]:
    """The same stall measurement with nothing running in this process."""
    from uvscope.gui.stall_monitor import StallMonitor

    mon = StallMonitor(5)
    mon.start()
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        app.processEvents()
        time.sleep(0.001)
    mon.stop()
    st = np.asarray(mon.stalls_ms or [0.0])
    return {
        "max_stall_ms": mon.max_stall_ms,
        "p99_stall_ms": float(np.percentile(st, 99)),
        "stalls_over_50ms": mon.stalls_over_50ms,
    }


def bench_scan(
    app: QApplication, rows: int, columns: int, analysis: bool = True, device: str = "cpu"
) -> dict[str, float]:
    from uvscope.acquisition.events import RunState
    from uvscope.config import RegionConfig, RigConfig, SampleConfig, ScanConfig
    from uvscope.gui.main_window import MainWindow
    from uvscope.gui.stall_monitor import StallMonitor
    from uvscope.sim.devices import build_sim_rig

    cfg = RigConfig()
    try:
        rig = build_sim_rig(cfg)
        world = "SimWorld"
    except ImportError:
        rig = build_sim_rig(cfg, renderer=_Renderer(cfg.camera.width_px, cfg.camera.height_px))
        world = "stand-in renderer"
    out = Path(tempfile.mkdtemp(prefix="uvscope-bench-gui-")) / "scan"
    scan = ScanConfig(
        region=RegionConfig(center_mm=(42.0, 32.0), rows=rows, columns=columns),
        output_dir=out,
        save_raw=False,
        sample=SampleConfig(id="BENCH-1", slide_id="BENCH-1", operator="benchmark"),
    ).replace(
        background={"frames": 2, "dark_frames": 1}, analysis={"enabled": analysis, "device": device}
    )
    win = MainWindow(
        rig,
        analysis_factory="default" if analysis else None,
        ask=lambda *a: True,
        live_on_connect=False,
        scan=scan,
    )
    win.resize(1500, 900)
    win.show()
    t_end = time.perf_counter() + 10
    while win.panel.position is None and time.perf_counter() < t_end:
        app.processEvents()
    mon = StallMonitor(5)
    mon.start()
    t0 = time.perf_counter()
    win.start_scan()
    while win.scan_view.state not in (RunState.FINISHED, RunState.FAILED, RunState.ABORTED):
        app.processEvents()
        time.sleep(0.001)
        if time.perf_counter() - t0 > 600:
            break
    scan_s = time.perf_counter() - t0
    tiles = win.scan_view.mosaic.tiles

    def done() -> bool:
        if len(tiles) < rows * columns:
            return False
        return not analysis or all("stained" in t.images for t in tiles.values())

    # let the last tiles (and their analysis results) reach the mosaic and the gallery
    t_end = time.perf_counter() + 60
    while not done() and time.perf_counter() < t_end:
        app.processEvents()
        time.sleep(0.001)
    wall = time.perf_counter() - t0
    mon.stop()
    shown = len(tiles)
    analysed = sum("stained" in t.images for t in tiles.values())
    cells = len(win.results.cells)
    win.close()
    st = np.asarray(mon.stalls_ms or [0.0])
    return {
        "tiles": rows * columns,
        "tiles_shown": shown,
        "tiles_analysed": analysed,
        "cells_in_gallery": cells,
        "scan_s": scan_s,
        "wall_s": wall,
        "max_stall_ms": mon.max_stall_ms,
        "p99_stall_ms": float(np.percentile(st, 99)),
        "stalls_over_50ms": mon.stalls_over_50ms,
        "world": world,
        "analysis": f"on ({device})" if analysis else "off",
    }  # type: ignore[dict-item]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--camera-fps", type=float, default=100.0)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--columns", type=int, default=5)
    ap.add_argument("--no-analysis", action="store_true", help="scan without the analysis")
    ap.add_argument("--device", default="cpu", help="where the networks run: cpu, cuda, auto")
    ap.add_argument("--skip-live", action="store_true", help="only the scan figures")
    ap.add_argument(
        "--same-priority",
        action="store_true",
        help="leave the analysis and tile threads at the GUI thread's priority (for comparison)",
    )
    ap.add_argument(
        "--baseline",
        type=float,
        default=20.0,
        help="seconds of an idle event loop first: the stalls the machine alone causes",
    )
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    from uvscope.gui.app import prepare_application

    prepare_application(app)  # as `uvscope gui` does before its window opens
    if args.same_priority:
        import uvscope.gui.main_window as mw
        import uvscope.gui.tile_worker as tw

        mw.lower_analysis_threads = lambda *a: 0  # type: ignore[assignment]
        tw.lower_current_thread = lambda *a: False  # type: ignore[assignment]
    if not args.skip_live:
        live = bench_live(app, args.seconds, args.camera_fps)
        print(
            "live view, 1392 x 1040 uint16 frames "
            f"(producer at up to {args.camera_fps:g} fps, display timer 60 Hz):"
        )
        for k, v in live.items():
            print(f"  {k:20s} {v:8.1f}")
    if args.baseline > 0:
        idle = bench_idle(app, args.baseline)
        print(f"idle event loop for {args.baseline:g} s (no scan; other processes' load only):")
        for k, v in idle.items():
            print(f"  {k:20s} {v:8.1f}")
    scan = bench_scan(app, args.rows, args.columns, not args.no_analysis, args.device)
    print(
        f"scan of {scan['tiles']} tiles (1392 x 1040, virtual clock, {scan['world']}, "
        f"analysis {scan['analysis']}, helper threads at "
        f"{'the same' if args.same_priority else 'lower'} priority):"
    )
    for k, v in scan.items():
        if k not in ("world", "analysis"):
            print(f"  {k:20s} {float(v):8.1f}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
