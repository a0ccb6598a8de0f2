"""The own-data plausibility checks on real masks: the figures behind their thresholds.

    python benchmarks/bench_mask_checks.py --data ../shared/data/zheng-wbc-d1 --pixel-size-um 0.157

Prints, for the masks as drawn and for a copy with the two codes swapped, the nucleus share of
each cell and of the cells' outlines (``uvscope.models.maskcheck``; swapped masks are refused
when both medians exceed 0.5), the median cell diameter at the given pixel size and at twice
it (warned outside 5-22 um, or 1.5x from a model card's), and what ``open_own_data`` costs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from uvscope.models.maskcheck import mask_geometry, median_diameter_um
from uvscope.models.owndata import open_own_data


def _swapped(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    out[m == 255], out[m == 128] = 128, 255
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="own data with masks/ (0/128/255)")
    ap.add_argument("--pixel-size-um", type=float, required=True)
    args = ap.parse_args()
    masks = [np.asarray(Image.open(f)) for f in sorted((args.data / "masks").glob("*.png"))]
    for label, arrays in (("as drawn", masks), ("codes swapped", [_swapped(m) for m in masks])):
        geo = [mask_geometry("class-mask", [m]) for m in arrays]
        ratio = np.array([g.nucleus_ratio for g in geo if g.nucleus_ratio is not None])
        share = np.array([g.outline_nucleus_share for g in geo if g.nucleus_ratio is not None])
        print(
            f"{label:14s} {len(ratio)} masks: nucleus/cell median {np.median(ratio):.3f} "
            f"(p10 {np.percentile(ratio, 10):.3f}, p90 {np.percentile(ratio, 90):.3f}, max "
            f"{ratio.max():.3f}); nucleus share of the outline median {np.median(share):.3f} "
            f"(min {share.min():.3f}, max {share.max():.3f})"
        )
    geo = [mask_geometry("class-mask", [m]) for m in masks]
    for px in (args.pixel_size_um, 2 * args.pixel_size_um):
        print(f"median cell diameter at {px:g} um/px: {median_diameter_um(geo, px):.1f} um")
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        open_own_data(args.data, args.pixel_size_um)
        times.append(time.perf_counter() - t0)
    print(f"open_own_data ({len(masks)} images, checks included): {min(times):.2f} s best of 3")


if __name__ == "__main__":
    main()
