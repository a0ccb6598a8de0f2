"""Frames per second of the simulator's render() and ground_truth() on one core.

Run: PYTHONPATH=. python benchmarks/bench_render.py [--frames N] [--width W --height H]
Prints figures; not a test. "same field" reuses the cached transmission of one position (a
z-stack or a multi-exposure); "scanning" moves to a new, 15 % overlapping field every frame,
so it includes generating and rasterising new slide area.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from uvscope.config import CameraConfig, SimConfig  # noqa: E402
from uvscope.sim.world import SimWorld  # noqa: E402


def _fps(fn, n: int) -> tuple[float, float]:
    """Frames per second by wall clock and by this process's CPU time (the latter is the
    fairer figure on a shared, overloaded machine)."""
    fn(0)  # warm-up
    t, c = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i + 1)
    return n / (time.perf_counter() - t), n / (time.process_time() - c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--width", type=int, default=1392)
    ap.add_argument("--height", type=int, default=1040)
    ap.add_argument("--scan-fields", type=int, default=200, help="fields for the memory check")
    a = ap.parse_args()
    w = SimWorld(SimConfig(seed=1), CameraConfig(width_px=a.width, height_px=a.height))
    rng = np.random.default_rng(0)
    cx, cy = w.smear_centre_mm()
    exp = w.suggest_exposure_ms(260)
    z0 = w.best_focus_um(cx, cy, 260)
    step_x = 0.85 * a.width * w.pixel_size_um * 1e-3
    step_y = 0.85 * a.height * w.pixel_size_um * 1e-3

    def pos(i: int) -> tuple[float, float, float]:
        """Field i of a raster over the smear (40 columns), in focus at 260 nm."""
        row, col = divmod(i, 40)
        x, y = cx - 4.0 + col * step_x, cy - 10.0 + row * step_y
        return x, y, w.best_focus_um(x, y, 260)

    print(f"frame {a.width} x {a.height}, pixel {w.pixel_size_um} um, {a.frames} frames each")
    results = {
        "render 260 nm in focus, same field": lambda i: w.render(cx, cy, z0, 260, exp, rng),
        "render 260 nm defocused 2 um, same field": lambda i: w.render(
            cx, cy, z0 + 2.0, 260, exp, rng
        ),
        "render 260 nm defocused 10 um, same field": lambda i: w.render(
            cx, cy, z0 + 10.0, 260, exp, rng
        ),
        "render 260 nm z-stack (new z each frame)": lambda i: w.render(
            cx, cy, z0 + 0.25 * (i % 16 - 8), 260, exp, rng
        ),
        "render dark frame": lambda i: w.render(cx, cy, z0, None, exp, rng),
        "render 260 nm in focus, scanning new fields": lambda i: w.render(
            *pos(i + 40), 260, exp, rng
        ),
        "render 260+280+300 nm per field, scanning (per frame)": lambda i: [
            w.render(*pos(i + 120), nm, exp, rng) for nm in (260, 280, 300)
        ],
        "ground_truth, same field": lambda i: w.ground_truth(cx, cy),
        "ground_truth, scanning new fields": lambda i: w.ground_truth(*pos(i + 200)[:2]),
    }
    print(f"{'':58s} {'wall':>7s} {'cpu':>7s}  frames/s")
    for name, fn in results.items():
        wall, cpu = _fps(fn, a.frames)
        k = 3 if "per frame" in name else 1
        print(f"{name:58s} {k * wall:7.2f} {k * cpu:7.2f}")
    wall, cpu = _fps(lambda i: w.render(*pos(280 + i), 260, exp, rng), a.scan_fields)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"scan of {a.scan_fields} new fields at 260 nm: {wall:.2f} (wall) / {cpu:.2f} (cpu) "
        f"frames/s, peak RSS {rss:.0f} MiB (tile cache {w.slide._tile_bytes / 2**20:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
