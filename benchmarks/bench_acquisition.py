"""Acquisition efficiency and memory of the scan engine on the simulated rig.

Efficiency = the shortest time the modelled hardware allows for the scan (exposures, readouts,
stage moves with acceleration, settle, wheel moves, and the focus moves between wavelengths when
they have focal offsets; overlapped wherever the devices allow) divided by the virtual-clock
time the engine took. Target >= 0.95.

Memory = peak resident set size of a long virtual-clock scan (target < 1 GB, flat in tiles).

Usage: python benchmarks/bench_acquisition.py [--tiles 2000] [--skip-memory]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.events import RunState  # noqa: E402
from uvscope.acquisition.plan import fov_mm, plan_tiles  # noqa: E402
from uvscope.acquisition.prepare import prepare_scan  # noqa: E402
from uvscope.config import RegionConfig, RigConfig, ScanConfig, WavelengthConfig  # noqa: E402
from uvscope.sim.devices import SimFilterWheel, SimXYStage, build_sim_rig, trapezoid_time_s  # noqa: E402


class CheapWorld:
    """Constant frames: this benchmark measures the engine and device timing, not optics."""

    def __init__(self, w: int, h: int) -> None:
        self.frame = np.full((h, w), 8000, np.uint16)
        self.dark = np.full((h, w), 100, np.uint16)

    def blank_position_mm(self):
        return (31.0, 21.0)

    def render(self, x, y, z, nm, exp, rng):
        return self.dark if nm is None else self.frame


def lower_bound_s(rig, scan: ScanConfig, start_xy, start_slot: int) -> float:
    """Ideal schedule on the device model: every overlap the hardware allows.

    A wavelength with a focal offset needs a focus move (trapezoid + settle) that can run
    beside the wheel's move but not beside an exposure; the tile's z is fixed here.
    """
    cam = rig.config.camera
    fcfg = rig.config.focus
    off = {w.nm: w.focus_offset_um for w in scan.wavelengths}

    def focus_s(a: int | None, b: int) -> float:
        dz = off[b] - (off[a] if a is not None else off[scan.wavelengths[0].nm])
        if dz == 0:
            return 0.0
        return (
            trapezoid_time_s(dz, fcfg.velocity_um_s, fcfg.acceleration_um_s2)
            + fcfg.settle_ms / 1000
        )

    st: SimXYStage = rig.stage
    wheel: SimFilterWheel = rig.filter_wheel
    plan = plan_tiles(
        scan, fov_mm(cam.width_px, cam.height_px, cam.pixel_size_um), rig.config.stage
    )
    nms = [w.nm for w in scan.wavelengths]
    exp = {w.nm: w.exposure_ms / 1000 for w in scan.wavelengths}
    r = cam.readout_ms / 1000
    settle = st.cfg.settle_ms / 1000
    t = 0.0  # time at which the sample may move (last exposure of the previous tile ended)
    readout_free = 0.0
    pos, slot, last_nm = start_xy, start_slot, None
    # best order for the first tile: start from the wheel's filter if it is an end of the list
    flip = int(len(nms) > 1 and wheel.slot_for(nms[-1]) == start_slot)
    for i, tile in enumerate(plan.tiles):
        order = nms if (i + flip) % 2 == 0 else nms[::-1]
        v, a = st.cfg.velocity_mm_s, st.cfg.acceleration_mm_s2
        move = max(
            trapezoid_time_s(tile.x_mm - pos[0], v, a), trapezoid_time_s(tile.y_mm - pos[1], v, a)
        )
        ready = t + move + settle
        wheel_ready = t + wheel.move_duration_s(slot, wheel.slot_for(order[0]))
        t = max(ready, wheel_ready, t + focus_s(last_nm, order[0]))
        for k, nm in enumerate(order):
            if k > 0:
                t += max(
                    wheel.move_duration_s(wheel.slot_for(order[k - 1]), wheel.slot_for(nm)),
                    focus_s(order[k - 1], nm),
                )
            t += exp[nm]
            readout_free = max(t, readout_free) + r
        pos, slot, last_nm = (tile.x_mm, tile.y_mm), wheel.slot_for(order[-1]), order[-1]
    return max(t, readout_free)


def efficiency(
    nms: tuple[int, ...], rows: int, cols: int, offsets: dict[int, float] | None = None
) -> tuple[float, float, float]:
    cfg = RigConfig()
    rig = build_sim_rig(cfg, renderer=CheapWorld(cfg.camera.width_px, cfg.camera.height_px))
    exps = {260: 50.0, 280: 4.0, 300: 40.0}
    scan = ScanConfig(
        region=RegionConfig(center_mm=(42.5, 32.5), rows=rows, columns=cols),
        wavelengths=tuple(
            WavelengthConfig(nm=n, exposure_ms=exps[n], focus_offset_um=(offsets or {}).get(n, 0))
            for n in nms
        ),
        background={"frames": 2, "dark_frames": 2},
        save_raw=False,
    )
    out = Path(tempfile.mkdtemp()) / "scan"
    engine = prepare_scan(rig, scan, out)  # as `uvscope scan` wires it: stage mosaics too
    start = {}

    def on_state(s):
        if s == RunState.RUNNING:
            start["xy"] = rig.stage.position_mm()
            start["slot"] = rig.filter_wheel.slot

    engine.events.state_changed.connect(on_state)
    summary = engine.run()
    lb = lower_bound_s(rig, scan, start["xy"], start["slot"])
    shutil.rmtree(out.parent)
    return lb / summary.device_time_s, lb, summary.device_time_s


def memory(tiles: int) -> tuple[float, float]:
    cfg = RigConfig()
    rig = build_sim_rig(cfg, renderer=CheapWorld(cfg.camera.width_px, cfg.camera.height_px))
    side = int(np.ceil(np.sqrt(tiles)))
    scan = ScanConfig(
        region=RegionConfig(center_mm=(42.5, 32.5), rows=tiles // side, columns=side),
        background={"frames": 2, "dark_frames": 2},
        save_raw=False,
    )
    out = Path(tempfile.mkdtemp()) / "scan"
    t0 = time.monotonic()
    prepare_scan(rig, scan, out).run()
    wall = time.monotonic() - t0
    shutil.rmtree(out.parent)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, default=2000)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    shifts = {260: 0.0, 280: 1.2, 300: 2.4}  # the simulated objective's chromatic focal shift
    for nms, rows, cols, offsets in (
        ((260,), 10, 10, None),
        ((260, 280, 300), 10, 10, None),
        ((260, 280, 300), 10, 10, shifts),
    ):
        eff, lb, took = efficiency(nms, rows, cols, offsets)
        note = " with focal offsets 0/1.2/2.4 um" if offsets else ""
        print(
            f"efficiency {'/'.join(map(str, nms))} nm{note}, {rows * cols} tiles: {eff:.4f} "
            f"(lower bound {lb:.2f} s, engine {took:.2f} s virtual)"
        )
    if not args.skip_memory:
        rss, wall = memory(args.tiles)
        print(
            f"memory: {args.tiles}-tile scan (1392 x 1040, no raw): peak RSS {rss:.0f} MiB, "
            f"wall {wall:.1f} s"
        )


if __name__ == "__main__":
    main()
