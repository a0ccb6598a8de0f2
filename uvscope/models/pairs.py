"""Staining ground truth from a lab's own multispectral scans (paper 000 section 4.3).

The 280 and 300 nm tiles are registered to the 260 nm tile with sub-pixel phase correlation
(the filters shift the image slightly), turned into optical densities, unmixed into nucleic
acid / protein / haemoglobin masses and rendered Giemsa-like (the scheme of
simulator-physics.md, implemented once in uvscope.sim.stain). Each pseudocolour tile is paired
with its 260 nm tile to train the staining network, and written for viewing.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from uvscope.errors import ModelError
from uvscope.io.mosaic import blend_tiles, choose_downsample
from uvscope.io.mosaic_pyramid import write_pyramid
from uvscope.io.scanfolder import ScanFolder
from uvscope.models.groundtruth import write_ground_truth
from uvscope.sim.stain import od_from_normalised, pseudocolor

WAVELENGTHS = (260, 280, 300)


def register_to(
    reference: np.ndarray, moving: np.ndarray, upsample: int = 20
) -> tuple[np.ndarray, tuple[float, float]]:
    """``moving`` shifted onto ``reference`` (sub-pixel); returns (image, (dy, dx) applied)."""
    ref = np.nan_to_num(reference.astype(np.float32), nan=1.0)
    mov = np.nan_to_num(moving.astype(np.float32), nan=1.0)
    # mean removal + Hann window keep the tile borders from dominating the correlation
    win = np.outer(np.hanning(ref.shape[0]), np.hanning(ref.shape[1])).astype(np.float32)
    shift, _, _ = phase_cross_correlation(
        (ref - ref.mean()) * win,
        (mov - mov.mean()) * win,
        upsample_factor=upsample,
        normalization=None,
    )
    out = ndimage.shift(mov, shift, order=1, mode="nearest")
    return out.astype(np.float32), (float(shift[0]), float(shift[1]))


def pseudocolor_tile(
    t260: np.ndarray, t280: np.ndarray, t300: np.ndarray
) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """Giemsa-like uint8 RGB from three normalised transmission tiles, plus the shifts used."""
    r280, s280 = register_to(t260, t280)
    r300, s300 = register_to(t260, t300)
    rgb = pseudocolor(od_from_normalised(t260), od_from_normalised(r280), od_from_normalised(r300))
    return rgb, {"280": s280, "300": s300}


def pseudocolor_scan(
    scan_dir: str | Path,
    out_dir: str | Path | None = None,
    pairs: bool = True,
    ground_truth: bool = False,
) -> Path:
    """Pseudocolour every tile of a 3-wavelength scan; write tiles, a mosaic and training pairs.

    Output (default DIR/pseudocolor): tile_<i>.tif (RGB), mosaic.ome.tif, shifts.csv and, with
    ``pairs``, a staining dataset pairs/<scan>/<tile>/{norm_260.tif, stained_rgb.tif} that
    ``uvscope train stain`` reads (masks are empty: add them to train segmentation too).
    ``ground_truth``: also an own-data folder groundtruth/ (images/ + masks/ + dataset.toml)
    with colour-based initial masks (uvscope.models.groundtruth) to correct and train on.
    """
    folder = ScanFolder.open(scan_dir)
    plan = folder.plan()
    records, damaged = folder.verify_tiles()  # the rule every reader follows
    if damaged:
        i, why = next(iter(sorted(damaged.items())))
        raise ModelError(
            f"{scan_dir}: {len(damaged)} tile(s) damaged or mismatched (tile {i}: {why}); "
            "restore them, or take them again with `uvscope scan --resume` (slide on the stage)"
        )
    usable = {i: r for i, r in records.items() if all(nm in r.wavelengths for nm in WAVELENGTHS)}
    if not usable:
        raise ModelError(
            f"{scan_dir} has no tiles imaged at all of {WAVELENGTHS} nm; scan with "
            f"wavelengths = [260, 280, 300] to make pseudocolour ground truth"
        )
    out = Path(out_dir) if out_dir else Path(scan_dir) / "pseudocolor"
    out.mkdir(parents=True, exist_ok=True)
    px = plan.recorded_pixel_size_um or 0.16
    rows = []
    for idx in sorted(usable):
        imgs = {nm: folder.read_tile(idx, nm)[0].astype(np.float32) for nm in WAVELENGTHS}
        rgb, shifts = pseudocolor_tile(imgs[260], imgs[280], imgs[300])
        tifffile.imwrite(out / f"tile_{idx:05d}.tif", rgb)
        rows.append([idx, *shifts["280"], *shifts["300"]])
        if ground_truth:
            write_ground_truth(out / "groundtruth", f"tile_{idx:05d}", imgs[260], rgb, px)
        if pairs:
            d = out / "pairs" / Path(scan_dir).name / f"tile_{idx:05d}"
            d.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(d / "norm_260.tif", imgs[260])
            tifffile.imwrite(d / "stained_rgb.tif", rgb)
            empty = np.zeros(imgs[260].shape, np.int32)
            tifffile.imwrite(d / "cell_labels.tif", empty)
            tifffile.imwrite(d / "nucleus_labels.tif", empty)
    with open(out / "shifts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["tile", "dy_280_px", "dx_280_px", "dy_300_px", "dx_300_px"])
        w.writerows(rows)
    bounds = plan.bounds_mm
    if bounds is not None:
        f_ds = choose_downsample(bounds, px, 32_000_000)

        def tiles() -> Iterator[tuple[np.ndarray, float, float]]:
            for idx in sorted(usable):
                rec = usable[idx]
                yield (
                    tifffile.imread(out / f"tile_{idx:05d}.tif").astype(np.float32) / 255.0,
                    rec.x_mm,
                    rec.y_mm,
                )

        mosaic = blend_tiles(tiles(), bounds, px, f_ds, channels=3)
        write_pyramid(
            out / "mosaic.ome.tif",
            (np.clip(mosaic, 0, 1) * 255).astype(np.uint8),
            px * f_ds,
            name="pseudocolour mosaic (260/280/300 nm)",
        )
    return out
