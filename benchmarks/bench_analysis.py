"""Analysis benchmarks: throughput at 1392 x 1040, FLOPs per tile, lag, counting accuracy.

    PYTHONPATH=. python benchmarks/bench_analysis.py [--tiles 4] [--models default|random]
        [--device auto] [--donor random-7] [--batch 2] [--interval 1.25]
    PYTHONPATH=. python benchmarks/bench_analysis.py --compare-eager [--tiles 4] [--repeats 3]

``--compare-eager`` times the default settings (inference.engine = auto, tiling = whole)
against the way the networks ran before issue 16: torch eager on overlapping patches
(engine = torch, tiling = patches; ``--eager-tiling whole`` keeps whole tiles on that side too,
to separate the engine's share from the tiling's), everything else equal, on the same tiles in
one process, alternating A B B A so both see the same outside load. Prints per-stage seconds
per tile, tiles/s of each, whether they found the same cells, and a line ``speed-up N``
(eager time / default time).

Prints figures; never asserts. Uses the models room's networks when uvscope.models.predict is
importable ('default' = shipped weights; falls back to 'random', the same architecture
untrained, which is fine for speed but not for accuracy) and the simulator's tiles when
uvscope.sim is importable (synthetic disks otherwise).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.tiles import Tile, TileSpec  # noqa: E402
from uvscope.analysis.models import ModelSet  # noqa: E402
from uvscope.analysis.pipeline import TilePipeline  # noqa: E402
from uvscope.analysis.settings import CLASSES, AnalysisSettings  # noqa: E402
from uvscope.analysis.worker import AnalysisWorker  # noqa: E402

SHAPE = (1040, 1392)
PX_UM = 0.16


def load(models: str, device: str) -> tuple[ModelSet, str]:
    try:
        from uvscope.analysis.models import load_models

        try:
            return load_models(models, models, models, device=device), models
        except Exception as err:  # noqa: BLE001 - report and fall back
            if models == "random":
                raise
            print(f"# models {models!r} unavailable ({err}); using 'random' (untrained)")
            return load_models("random", "random", "random", device=device), "random"
    except Exception as err:  # noqa: BLE001
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.analysis.synth import fake_models

        print(f"# uvscope.models unavailable ({err}); using the test fakes")
        return fake_models(), "fake"


def sim_world(donor: str):
    try:
        from uvscope.config import CameraConfig, SimConfig
        from uvscope.sim.world import SimWorld
    except ImportError:
        return None
    return SimWorld(SimConfig(seed=11, donor=donor), CameraConfig())


def make_tiles(n: int, world, overlap: float = 0.15) -> tuple[list[TileSpec], list[Tile]]:
    cols = max(int(np.ceil(np.sqrt(n))), 1)
    step_x = SHAPE[1] * PX_UM * 1e-3 * (1 - overlap)
    step_y = SHAPE[0] * PX_UM * 1e-3 * (1 - overlap)
    if world is not None:
        cx, cy = world.smear_centre_mm()
    else:
        cx, cy = 10.0, 10.0
    specs = [
        TileSpec(k, k // cols, k % cols, cx + (k % cols) * step_x, cy + (k // cols) * step_y)
        for k in range(n)
    ]
    tiles = []
    rng = np.random.default_rng(0)
    for s in specs:
        if world is not None:  # the ideal normalised tile: transmission at best focus
            z = world.best_focus_um(s.x_mm, s.y_mm, 260)
            norm = world.transmission(s.x_mm, s.y_mm, z, 260).astype(np.float32)
            norm += rng.normal(0, 0.01, norm.shape).astype(np.float32)
        else:
            from tests.analysis.synth import random_slide, render

            cells = random_slide(
                40,
                (s.x_mm * 1e3 - 110, s.x_mm * 1e3 + 110),
                (s.y_mm * 1e3 - 83, s.y_mm * 1e3 + 83),
                seed=s.index,
            )
            norm = render(cells, (s.x_mm, s.y_mm), SHAPE, PX_UM, noise=0.01, seed=s.index)
        tiles.append(
            Tile(
                spec=s,
                x_mm=s.x_mm,
                y_mm=s.y_mm,
                z_um=0.0,
                pixel_size_um=PX_UM,
                raw={},
                normalised={260: norm},
                exposure_ms={260: 10.0},
                acquired_at_s=0.0,
            )
        )
    return specs, tiles


def flops_per_tile(models: ModelSet, tile: Tile, settings: AnalysisSettings) -> float | None:
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return None
    if not hasattr(models.segmenter, "net"):
        return None
    pipe = TilePipeline(models, settings)
    with FlopCounterMode(display=False) as fc:
        pipe.analyse([tile])
    return float(fc.get_total_flops())


def engine_settings(base: AnalysisSettings, engine: str, tiling: str) -> AnalysisSettings:
    return base.replace(
        inference={**base.inference.model_dump(), "engine": engine, "tiling": tiling}
    )


def _timed_pass(pipe: TilePipeline, tiles: list[Tile], batch: int) -> tuple[float, list]:
    t0 = time.perf_counter()
    results = []
    for i in range(0, len(tiles), batch):
        results += pipe.analyse(tiles[i : i + batch])
    return time.perf_counter() - t0, results


def _agreement(a: list, b: list) -> str:
    same = all(
        [c.cell_class for c in x.cells] == [c.cell_class for c in y.cells]
        for x, y in zip(a, b, strict=True)
    )
    px = np.mean([np.mean(x.labels != y.labels) for x, y in zip(a, b, strict=True)])
    rgb = max(
        int(np.abs(x.stained.astype(int) - y.stained.astype(int)).max())
        for x, y in zip(a, b, strict=True)
        if x.stained is not None
    )
    n = sum(len(x.cells) for x in a)
    return (
        f"agreement: {'same' if same else 'DIFFERENT'} cells and classes ({n} cells), "
        f"label pixels differing {100 * px:.4f} %, stained tile max difference {rgb} gray levels"
    )


def compare_eager(args: argparse.Namespace, settings: AnalysisSettings, tiles: list) -> None:
    """Default engine vs torch eager: same tiles, same process, alternating A B B A."""
    # two loads, so each side keeps its own engine state
    models = {k: load(args.models, args.device)[0] for k in ("default", "eager")}
    pipes = {
        "default": TilePipeline(models["default"], settings),
        "eager": TilePipeline(
            models["eager"], engine_settings(settings, "torch", args.eager_tiling)
        ),
    }
    print(
        f"# default: engines {pipes['default'].engines}, tiling "
        f"{settings.inference.tiling}; eager: engines {pipes['eager'].engines}, tiling "
        f"{args.eager_tiling}"
    )
    for p in pipes.values():  # warm-up: first calls of each shape build kernels
        p.analyse(tiles[: args.batch])
        p.timer = type(p.timer)()
    wall = {k: 0.0 for k in pipes}
    last: dict[str, list] = {}
    for rep in range(args.repeats):
        order = ("default", "eager") if rep % 2 == 0 else ("eager", "default")
        line = []
        for name in order:
            dt, last[name] = _timed_pass(pipes[name], tiles, args.batch)
            wall[name] += dt
            line.append(f"{name} {len(tiles) / dt:.3f} tiles/s")
        print(f"  repeat {rep + 1}: " + ", ".join(line))
    stages = sorted({k for p in pipes.values() for k in p.timer.seconds})
    print(f"{'stage (s per tile)':22s} {'default':>9s} {'eager':>9s}")
    for st in stages:
        a, b = (pipes[n].timer.per_tile().get(st, 0.0) for n in ("default", "eager"))
        print(f"  {st:20s} {a:9.3f} {b:9.3f}")
    n = len(tiles) * args.repeats
    for name in ("default", "eager"):
        print(f"{name:8s}: {n / wall[name]:.3f} tiles/s ({wall[name] / n:.3f} s/tile)")
    print(_agreement(last["eager"], last["default"]))
    print(f"speed-up {wall['eager'] / wall['default']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", type=int, default=4)
    ap.add_argument("--models", default="default")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--donor", default="random-7", help="held-out donor for counting accuracy")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument(
        "--interval",
        type=float,
        default=1.25,
        help="seconds between tiles for the lag figure (an acquisition slower than the analysis)",
    )
    ap.add_argument("--compare-eager", action="store_true", help="default vs torch eager")
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds (--compare-eager)")
    ap.add_argument(
        "--eager-tiling",
        default="patches",
        choices=("patches", "whole"),
        help="tiling of the torch eager side (--compare-eager); patches: as before issue 16",
    )
    args = ap.parse_args()
    if args.compare_eager:
        import os

        import torch

        base = AnalysisSettings()
        inf = {**base.inference.model_dump(), "tile_batch": args.batch, "device": args.device}
        settings = base.replace(inference=inf)
        _, tiles = make_tiles(args.tiles, sim_world(args.donor))
        print(
            f"# compare-eager: {len(tiles)} tiles x {SHAPE[1]} x {SHAPE[0]}, batch {args.batch}, "
            f"{args.repeats} alternating repeats, torch threads {torch.get_num_threads()}, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        compare_eager(args, settings, tiles)
        return

    models, which = load(args.models, args.device)
    settings = AnalysisSettings().replace(
        inference={
            **AnalysisSettings().inference.model_dump(),
            "tile_batch": args.batch,
            "device": args.device,
        }
    )
    world = sim_world(args.donor)
    specs, tiles = make_tiles(args.tiles, world)
    print(
        f"# models: {which}; tiles: {len(tiles)} x {SHAPE[1]} x {SHAPE[0]} "
        f"({'simulator' if world is not None else 'synthetic'}); device: {args.device}"
    )

    # lag first, as in a scan: torch has run on no thread but the analysis worker's (torch
    # work on this thread first would give it a second OpenMP team and slow the worker ~30 %)
    interval = args.interval
    w = AnalysisWorker(models, settings, plan=specs)
    for t in tiles:
        time.sleep(interval)  # acquisition of the next tile
        w.put(t)
    t_last = time.perf_counter()
    w.close()
    lag = time.perf_counter() - t_last
    print(
        f"analysis lag after the last tile (tile interval {interval:.2f} s): {lag:.2f} s "
        f"({lag / interval:.2f} tile intervals)"
    )

    pipe = TilePipeline(models, settings)
    pipe.analyse(tiles[:1])  # warm-up
    t0 = time.perf_counter()
    results = []
    for i in range(0, len(tiles), args.batch):
        results += pipe.analyse(tiles[i : i + args.batch])
    dt = time.perf_counter() - t0
    print(
        f"throughput: {len(tiles) / dt:.3f} tiles/s ({dt / len(tiles):.2f} s/tile), "
        f"cells found: {sum(len(r.cells) for r in results)}"
    )

    for name, sec in sorted(pipe.timer.per_tile().items()):  # stage timings per tile
        print(f"  stage {name:16s} {sec:.3f} s")

    fl = flops_per_tile(models, tiles[0], settings)
    if fl is not None:
        print(f"FLOPs per tile (network forward passes): {fl / 1e9:.1f} GFLOP")

    # counting accuracy against the simulator's ground truth
    if world is None:
        print("counting accuracy: n/a (no simulator)")
        return
    counted = [c for r in w.sorted_results() for c in r.counted]
    healthy = [c for c in counted if not c.dead]
    xs = [s.x_mm for s in specs]
    ys = [s.y_mm for s in specs]
    hx, hy = SHAPE[1] * PX_UM * 1e-3 / 2, SHAPE[0] * PX_UM * 1e-3 / 2
    gt = [
        c
        for c in world.cells_in_region(min(xs) - hx, min(ys) - hy, max(xs) + hx, max(ys) + hy)
        if not c.dead and c.kind in CLASSES
    ]
    print(
        f"counting: {len(healthy)} healthy counted vs {len(gt)} ground-truth healthy WBCs "
        f"(donor {args.donor}, {len(tiles)} tiles); models: {which}"
    )
    if which != "default":
        print("  (untrained or fake networks: the per-class error below is not meaningful)")
    for name in CLASSES:
        p = 100 * sum(c.cell_class == name for c in healthy) / max(len(healthy), 1)
        q = 100 * sum(c.kind == name for c in gt) / max(len(gt), 1)
        print(f"  {name:11s} counted {p:5.1f} %  truth {q:5.1f} %  |error| {abs(p - q):5.1f} pp")


if __name__ == "__main__":
    main()
