"""Network throughput on an accelerator: small and paper-sized networks, bf16, batch 1-16.

    PYTHONPATH=. python benchmarks/bench_gpu.py [--device cuda] [--sizes small,paper]
        [--batches 1,2,4,8,16] [--seconds 2] [--peak-tflops X] [--quick]

Prints, per network and batch size: tiles/s of whole 1392 x 1040 tiles at the network's pixel
size (padded to 2**depth), FLOPs per tile (counted on the meta device, so no memory is needed)
and the fraction of the device's bf16 arithmetic limit that this reaches; then the full
pipeline (shipped small models) run sequentially against overlapped (pinned host memory, one
CUDA stream per thread, post-processing on a thread pool while the next batch is on the
device); then the lag from the last tile to the differential when tiles arrive at the modelled
rig's rate. Paper-sized networks get random weights (fine for speed, meaningless outputs).

``--device cpu --quick`` runs every step on CPU at a reduced tile size in seconds (the test
suite does, so the script cannot rot where no GPU is lent); CPU computes in float32.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from uvscope.models.arch import preset  # noqa: E402
from uvscope.models.registry import build_network  # noqa: E402

TILE = (1040, 1392)
TILE_PX_UM = 0.16
#: dense (no sparsity) bf16 tensor-core peak, TFLOP/s, by a substring of the device name
PEAK_BF16_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 6000 Ada", 364.0),
)


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for key, v in PEAK_BF16_TFLOPS if key in name), None)


def input_shape(cfg: Any, tile: tuple[int, int]) -> tuple[int, int]:
    """A tile at the network's pixel size, padded to a multiple of 2**depth."""
    m = 2**cfg.depth
    s = TILE_PX_UM / cfg.pixel_size_um
    return tuple(-(-int(round(n * s)) // m) * m for n in tile)  # type: ignore[return-value]


def flops_per_tile(kind: str, cfg: Any, shape: tuple[int, int]) -> float:
    """Forward FLOPs of one padded tile, counted on the meta device (no memory, no time)."""
    with torch.device("meta"):
        net = build_network(kind, cfg).eval()
        x = torch.zeros(1, 1, *shape)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        net(x)
    return float(fc.get_total_flops())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(
    net: torch.nn.Module, shape: tuple[int, int], batch: int, device: torch.device, seconds: float
) -> float:
    """Tiles per second of ``net`` on (batch, 1, *shape) inputs already on the device."""
    x = torch.rand(batch, 1, *shape, device=device)
    cast: Any = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)

    def once() -> None:
        with torch.inference_mode():
            if cast is None:
                net(x)
            else:
                with cast:
                    net(x)

    once()
    once()  # warm-up: kernel selection, allocator
    _sync(device)
    n, t0 = 0, time.perf_counter()
    while True:
        once()
        n += 1
        _sync(device)
        dt = time.perf_counter() - t0
        if dt >= seconds or n >= 200:
            return n * batch / dt


def network_table(args: argparse.Namespace, device: torch.device, tile: tuple[int, int]) -> None:
    peak = peak_tflops(device, args.peak_tflops)
    dtype = "bf16 autocast, channels-last" if device.type == "cuda" else "float32"
    print(f"## networks on {device} ({dtype}); tile {tile[1]} x {tile[0]} px at {TILE_PX_UM} um")
    print(f"peak arithmetic limit: {f'{peak:.0f} TFLOP/s bf16' if peak else 'unknown'}")
    print("| size | network | input | GFLOP/tile | batch | tiles/s | TFLOP/s | of peak |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        per_tile: dict[str, float] = {}
        for kind in ("segment", "stain"):
            cfg = preset(kind, size)
            shape = input_shape(cfg, tile)
            fl = flops_per_tile(kind, cfg, shape)
            if size in args.count_only:
                print(f"| {size} | {kind} | {shape[1]}x{shape[0]} | {fl / 1e9:.1f} | | "
                      "not timed (--quick) | | |")  # fmt: skip
                continue
            torch.manual_seed(0)
            net = build_network(kind, cfg).eval().to(device)  # random weights: speed only
            if device.type == "cuda":
                net = net.to(memory_format=torch.channels_last)
            best = 0.0
            for b in args.batches:
                try:
                    tps = throughput(net, shape, b, device, args.seconds)
                except torch.OutOfMemoryError:
                    print(f"| {size} | {kind} | {shape[1]}x{shape[0]} | | {b} | out of memory |||")
                    break
                best = max(best, tps)
                tf = fl * tps / 1e12
                frac = f"{tf / peak:.1%}" if peak else "n/a"
                print(
                    f"| {size} | {kind} | {shape[1]}x{shape[0]} | {fl / 1e9:.1f} | {b} | "
                    f"{tps:.2f} | {tf:.3g} | {frac} |"
                )
            per_tile[kind] = best
            del net
            if device.type == "cuda":
                torch.cuda.empty_cache()
        if per_tile and all(per_tile.values()):
            both = 1.0 / sum(1.0 / v for v in per_tile.values())
            print(f"{size}: segmentation + staining at the best batch: {both:.2f} tiles/s")


def _pipeline(device: str) -> Any:
    from uvscope.analysis.models import load_models
    from uvscope.analysis.pipeline import TilePipeline
    from uvscope.analysis.settings import AnalysisSettings

    try:
        models = load_models("default", "default", "default", device=device)
    except Exception as err:  # noqa: BLE001 - no shipped weights: speed with random ones
        print(f"# shipped models unavailable ({err}); random small networks")
        models = load_models("random", "random", "random", device=device)
    s = AnalysisSettings()
    s = s.replace(inference={**s.inference.model_dump(), "device": device})
    return TilePipeline(models, s)


def overlap_table(pipe: Any, tiles: list, args: argparse.Namespace, device: torch.device) -> None:
    """The full pipeline, sequential vs networks overlapped with numpy on a thread pool."""
    tile = tiles[0].shape
    batch = args.pipeline_batch
    pipe.analyse(tiles[:batch])  # warm-up
    t0 = time.perf_counter()
    seq = [r for i in range(0, len(tiles), batch) for r in pipe.analyse(tiles[i : i + batch])]
    t_seq = time.perf_counter() - t0

    def finish_on_own_stream(out: Any) -> list:
        if device.type == "cuda":
            with torch.cuda.stream(torch.cuda.Stream(device)):
                return pipe.finish(out)
        return pipe.finish(out)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = []
        for i in range(0, len(tiles), batch):  # the device works while numpy finishes
            futures.append(pool.submit(finish_on_own_stream, pipe.infer(tiles[i : i + batch])))
        ovl = [r for f in futures for r in f.result()]
    t_ovl = time.perf_counter() - t0
    same = [len(a.cells) for a in seq] == [len(b.cells) for b in ovl]
    n = len(tiles)
    print(f"## full pipeline on {device}, {n} tiles {tile[1]} x {tile[0]}, batch {batch}")
    print(f"engines: {pipe.engines or 'torch'}; per-stage s/tile: " + ", ".join(
        f"{k} {v:.3f}" for k, v in sorted(pipe.timer.per_tile().items())))  # fmt: skip
    print(f"sequential: {n / t_seq:.2f} tiles/s; overlapped: {n / t_ovl:.2f} tiles/s "
          f"(x{t_seq / t_ovl:.2f}); same cells: {same}")  # fmt: skip


def lag_line(pipe: Any, specs: list, tiles: list, args: argparse.Namespace) -> None:
    """Tiles put at the rig's rate; seconds from the last put to the final differential."""
    from uvscope.analysis.worker import AnalysisWorker

    w = AnalysisWorker(pipe.models, pipe.settings, plan=specs)
    for t in tiles:
        time.sleep(args.interval)
        w.put(t)
    t_last = time.perf_counter()
    w.close()
    lag = time.perf_counter() - t_last
    d = w.differential()
    print(f"lag from the last tile to the differential (tiles every {args.interval:.2f} s): "
          f"{lag:.2f} s; {d.tiles_analysed} tiles, {d.healthy} healthy WBCs counted")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sizes", default="small,paper")
    ap.add_argument("--batches", default="1,2,4,8,16")
    ap.add_argument("--seconds", type=float, default=2.0, help="timing per batch size")
    ap.add_argument("--peak-tflops", type=float, default=None, help="override the device peak")
    ap.add_argument("--pipeline-tiles", type=int, default=16)
    ap.add_argument("--pipeline-batch", type=int, default=4)
    ap.add_argument("--interval", type=float, default=0.12, help="rig seconds per tile")
    ap.add_argument("--quick", action="store_true", help="small tiles, few batches (CPU test)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --device cpu --quick to check the script")
    args.sizes = args.sizes.split(",")
    args.batches = [int(b) for b in args.batches.split(",")]
    tile = TILE
    if args.quick:  # a quarter of the tile side, and only what is cheap on a CPU
        tile = (TILE[0] // 4, TILE[1] // 4)
        args.batches, args.seconds = args.batches[:2], min(args.seconds, 0.3)
        args.pipeline_tiles, args.pipeline_batch = 2, 1
        args.count_only = [s for s in args.sizes if s != "small"]  # paper nets: FLOPs only
    else:
        args.count_only = []
    if device.type == "cuda":
        print(f"# {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    network_table(args, device, tile)
    import bench_analysis as ba

    specs, tiles = ba.make_tiles(args.pipeline_tiles, ba.sim_world("random-7"))
    if tile != TILE:  # the centre of each simulated tile
        r0, c0 = (TILE[0] - tile[0]) // 2, (TILE[1] - tile[1]) // 2
        for t in tiles:
            t.normalised = {nm: a[r0 : r0 + tile[0], c0 : c0 + tile[1]].copy()
                            for nm, a in t.normalised.items()}  # fmt: skip
    pipe = _pipeline(str(device))
    overlap_table(pipe, tiles, args, device)
    lag_line(pipe, specs, tiles, args)


if __name__ == "__main__":
    main()
