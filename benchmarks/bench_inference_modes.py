"""Inference settings side by side at real tile size: speed and accuracy against the truth.

    PYTHONPATH=. python benchmarks/bench_inference_modes.py [--donors random-101,random-102]
        [--fields 6] [--modes patches,whole] [--engine auto] [--repeats 2]

For each mode (``inference.tiling`` = patches or whole) the same WBC-centred 1392 x 1040
fields of held-out simulated donors go through the pipeline's segmentation + staining pass,
modes alternating field by field (A B, B A, ...) so machine load falls on both alike. Prints,
per mode: seconds per tile of that pass, cell and nucleus Dice against the simulator's masks
(probability > 0.5 at camera pixels, per field, mean over fields), MS-SSIM of the stained tile
against the simulator's Giemsa-like colour, and the agreement between the modes (Dice of their
cell masks, largest probability difference). Counting accuracy per mode comes from
``bench_counting.py --config`` (a settings file with ``[inference] tiling = "whole"``).
Never asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.tiles import TileSpec  # noqa: E402
from uvscope.analysis.evaluate import SimCamera, wbc_field_centres  # noqa: E402
from uvscope.analysis.models import load_models  # noqa: E402
from uvscope.analysis.pipeline import TilePipeline  # noqa: E402
from uvscope.analysis.settings import AnalysisSettings  # noqa: E402
from uvscope.models.metrics import msssim_rgb  # noqa: E402


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


def _pipeline(models, mode: str, engine: str) -> TilePipeline:  # noqa: ANN001
    settings = AnalysisSettings.model_validate({"inference": {"tiling": mode, "engine": engine}})
    return TilePipeline(models, settings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--donors", default="random-101,random-102")
    ap.add_argument("--fields", type=int, default=6, help="WBC-centred fields per donor")
    ap.add_argument("--modes", default="patches,whole")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--models", default="default")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    models = load_models(args.models, args.models, args.models, device="cpu")
    pipes = {m: _pipeline(models, m, args.engine) for m in modes}
    print(
        f"# modes {modes}, engines {pipes[modes[0]].engines}, load average "
        f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs"
    )
    secs = {m: 0.0 for m in modes}
    scores: dict[str, dict[str, list[float]]] = {
        m: {"cell": [], "nucleus": [], "msssim": []} for m in modes
    }
    agree_dice, agree_max = [], 0.0
    n = 0
    for k, donor in enumerate(d for d in args.donors.split(",") if d):
        cam = SimCamera(donor, int(donor.split("-")[1]), (1040, 1392))
        for j, (x, y) in enumerate(wbc_field_centres(cam, args.fields, seed=k)):
            tile = cam.tile(TileSpec(j, 0, j, x * 1e-3, y * 1e-3))
            gt = cam.world.ground_truth(x * 1e-3, y * 1e-3)
            gray = tile.normalised[260]
            order = modes if n % 2 == 0 else modes[::-1]
            probs = {}
            for m in order:
                t0 = time.perf_counter()
                (p,), (rgb,) = pipes[m].segment_and_stain([gray], tile.pixel_size_um)
                secs[m] += time.perf_counter() - t0
                probs[m] = p
                scores[m]["cell"].append(dice(p[0] > 0.5, gt.cell_labels > 0))
                scores[m]["nucleus"].append(dice(p[1] > 0.5, gt.nucleus_labels > 0))
                if rgb is not None:
                    ref = gt.stained_rgb[None].astype(np.float32) / 255
                    scores[m]["msssim"].append(
                        msssim_rgb(rgb[None].astype(np.float32) / 255, ref)[0]
                    )
            if len(modes) > 1:
                a, b = probs[modes[0]], probs[modes[1]]
                agree_dice.append(dice(a[0] > 0.5, b[0] > 0.5))
                agree_max = max(agree_max, float(np.abs(a[0] - b[0]).max()))
            n += 1
    print(f"# {n} fields of 1392 x 1040 camera pixels")
    print(f"{'mode':10s} {'s/tile':>8s} {'cell Dice':>10s} {'nuc Dice':>10s} {'MS-SSIM':>8s}")
    for m in modes:
        sc = scores[m]
        ms = f"{np.mean(sc['msssim']):.4f}" if sc["msssim"] else "-"
        print(
            f"{m:10s} {secs[m] / n:8.3f} {np.mean(sc['cell']):10.4f} "
            f"{np.mean(sc['nucleus']):10.4f} {ms:>8s}"
        )
    if len(modes) > 1:
        print(
            f"agreement {modes[0]} vs {modes[1]}: cell-mask Dice min {min(agree_dice):.4f} "
            f"mean {np.mean(agree_dice):.4f}, largest cell-probability difference {agree_max:.3f}"
        )
        print(f"speed-up {modes[1]} / {modes[0]}: {secs[modes[0]] / secs[modes[1]]:.2f}")


if __name__ == "__main__":
    main()
