"""``uvscope simulate``: export simulated tiles with ground truth as a training dataset.

Each tile is imaged like a scan would image it (raw frames at every wavelength, normalised
with a dark frame and a blank-field background at the same wavelength), and saved beside its
labels, cell table and Giemsa-like colour, and the red-cell and platelet truth: instance maps
and per-object tables (haemoglobin, size, morphology class, overlap, clump), so a red-cell
morphology classifier or a haemoglobin estimator can be trained and scored on them.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import zlib
from pathlib import Path

import click
import numpy as np

from uvscope import __version__
from uvscope.config import WAVELENGTHS_NM, CameraConfig, SimConfig
from uvscope.errors import ConfigError
from uvscope.geometry import stage_to_pixel
from uvscope.sim.donors import get_donor
from uvscope.sim.world import GroundTruth, SimWorld

DATASET_VERSION = 1
SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))


def _parse_wavelengths(text: str) -> tuple[int, ...]:
    try:
        nms = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r}: give nm values like 260,280,300") from None
    bad = [n for n in nms if n not in WAVELENGTHS_NM]
    if not nms or bad or len(set(nms)) != len(nms):
        raise click.BadParameter(f"{text!r}: use distinct values from {WAVELENGTHS_NM}")
    return nms


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(t) for t in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give WIDTHxHEIGHT, e.g. 1392x1040") from None
    if w < 16 or h < 16:
        raise click.BadParameter(f"{text!r}: tiles must be at least 16 x 16 pixels")
    return w, h


def _split_for(tile_key: str) -> str:
    u = (zlib.crc32(tile_key.encode()) % 10_000) / 10_000
    acc = 0.0
    for name, frac in SPLITS:
        acc += frac
        if u < acc:
            return name
    return SPLITS[-1][0]


class _DonorImager:
    """One donor's slide under the simulated rig, with its dark frame and backgrounds."""

    def __init__(
        self,
        world: SimWorld,
        wavelengths: tuple[int, ...],
        rng: np.random.Generator,
        frames: int = 8,
    ):
        self.world, self.rng = world, rng
        self.exposure = {nm: world.suggest_exposure_ms(nm, 0.5) for nm in wavelengths}
        bx, by = world.blank_position_mm()
        self.dark: dict[int, np.ndarray] = {}
        self.background: dict[int, np.ndarray] = {}
        for nm, exp in self.exposure.items():
            self.dark[nm] = self._mean(bx, by, 0.0, None, exp, frames)
            z = world.best_focus_um(bx, by, nm)
            self.background[nm] = self._mean(bx, by, z, nm, exp, frames)

    def _mean(self, x: float, y: float, z: float, nm: int | None, exp: float, n: int) -> np.ndarray:
        acc = np.zeros(self.world.shape, np.float64)
        for _ in range(n):
            acc += self.world.render(x, y, z, nm, exp, self.rng)
        mean: np.ndarray = (acc / n).astype(np.float32)
        return mean

    def normalised(self, x: float, y: float, nm: int, defocus_um: float) -> np.ndarray:
        z = self.world.best_focus_um(x, y, nm) + defocus_um
        raw = self.world.render(x, y, z, nm, self.exposure[nm], self.rng).astype(np.float32)
        den = np.maximum(self.background[nm] - self.dark[nm], 1.0)
        norm: np.ndarray = (raw - self.dark[nm]) / den
        return norm


def _pick_position(
    world: SimWorld, rng: np.random.Generator, near_wbc: bool
) -> tuple[float, float, bool]:
    (ox, oy), (sw, sh) = world.sim.slide_origin_mm, world.sim.slide_size_mm
    fov_w = world.width_px * world.pixel_size_um * 1e-3
    fov_h = world.height_px * world.pixel_size_um * 1e-3
    m = 0.5  # keep away from the smear edge
    for _ in range(50 if near_wbc else 0):
        x0, y0 = rng.uniform(ox + m, ox + sw - m - 1.0), rng.uniform(oy + m, oy + sh - m - 1.0)
        cells = world.cells_in_region(x0, y0, x0 + 1.0, y0 + 1.0)
        if cells:
            c = cells[int(rng.integers(len(cells)))]
            jx, jy = rng.uniform(-0.3, 0.3) * fov_w, rng.uniform(-0.3, 0.3) * fov_h
            return c.centroid_mm[0] + jx, c.centroid_mm[1] + jy, True
    return rng.uniform(ox + m, ox + sw - m), rng.uniform(oy + m, oy + sh - m), False


def _write_tile(
    folder: Path,
    norms: dict[int, np.ndarray],
    gt: GroundTruth,
    world: SimWorld,
    centre: tuple[float, float],
) -> None:
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    for nm, img in norms.items():
        tifffile.imwrite(folder / f"norm_{nm}.tif", img.astype(np.float32))
    tifffile.imwrite(folder / "cell_labels.tif", gt.cell_labels.astype(np.int32))
    tifffile.imwrite(folder / "nucleus_labels.tif", gt.nucleus_labels.astype(np.int32))
    tifffile.imwrite(folder / "stained_rgb.tif", gt.stained_rgb, photometric="rgb")
    with open(folder / "cells.csv", "w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(
            [
                "id",
                "kind",
                "dead",
                "death",
                "large",
                "centroid_x_mm",
                "centroid_y_mm",
                "row",
                "col",
                "diameter_um",
            ]
        )
        for c in gt.cells:
            row, col = stage_to_pixel(
                c.centroid_mm[0], c.centroid_mm[1], centre, world.shape, world.pixel_size_um
            )
            wr.writerow(
                [
                    c.id,
                    c.kind,
                    int(c.dead),
                    c.death or "",
                    int(c.large),
                    f"{c.centroid_mm[0]:.6f}",
                    f"{c.centroid_mm[1]:.6f}",
                    f"{float(row):.2f}",
                    f"{float(col):.2f}",
                    f"{c.diameter_um:.2f}",
                ]
            )
    _write_rbc_truth(folder, gt, world, centre)


#: columns of rbcs.csv and platelets.csv (units in the names)
RBC_COLUMNS = (
    "id",
    "morph",
    "hb_pg",
    "diameter_um",
    "area_um2",
    "major_um",
    "minor_um",
    "overlapped",
    "centroid_x_mm",
    "centroid_y_mm",
    "row",
    "col",
)
PLATELET_COLUMNS = ("id", "clump_id", "diameter_um", "centroid_x_mm", "centroid_y_mm", "row", "col")


def _write_rbc_truth(
    folder: Path, gt: GroundTruth, world: SimWorld, centre: tuple[float, float]
) -> None:
    """rbc_labels.tif / platelet_labels.tif (int32 ids, 0 = none; where red cells overlap the
    larger id holds the pixel) and rbcs.csv / platelets.csv: every object with a pixel here."""
    import tifffile

    assert gt.rbc_labels is not None and gt.platelet_labels is not None
    tifffile.imwrite(folder / "rbc_labels.tif", gt.rbc_labels.astype(np.int32))
    tifffile.imwrite(folder / "platelet_labels.tif", gt.platelet_labels.astype(np.int32))

    def pixel(centroid_mm: tuple[float, float]) -> list[str]:
        row, col = stage_to_pixel(*centroid_mm, centre, world.shape, world.pixel_size_um)
        return [
            f"{centroid_mm[0]:.6f}",
            f"{centroid_mm[1]:.6f}",
            f"{float(row):.2f}",
            f"{float(col):.2f}",
        ]

    with open(folder / "rbcs.csv", "w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(RBC_COLUMNS)
        for r in gt.rbcs:
            sizes = (r.hb_pg, r.diameter_um, r.area_um2, r.major_um, r.minor_um)
            wr.writerow(
                [r.id, r.morph, *(f"{v:.3f}" for v in sizes), int(r.overlapped)]
                + pixel(r.centroid_mm)
            )
    with open(folder / "platelets.csv", "w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(PLATELET_COLUMNS)
        for p in gt.platelets:
            wr.writerow([p.id, p.clump_id, f"{p.diameter_um:.3f}"] + pixel(p.centroid_mm))


@click.command("simulate")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset folder to create.",
)
@click.option(
    "--tiles", default=20, show_default=True, type=click.IntRange(min=1), help="Tiles per donor."
)
@click.option(
    "--donors",
    default=None,
    help="Comma-separated donor profiles, e.g. "
    "healthy,neutropenia,thrombocytopenia,sickle (default: healthy).",
)
@click.option(
    "--random-donors",
    type=click.IntRange(min=1),
    default=None,
    help="Use K random held-out donors instead of named profiles.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of slides and noise.")
@click.option(
    "--wavelengths", default="260,280,300", show_default=True, help="Wavelengths (nm) to image."
)
@click.option(
    "--binning",
    default="1",
    show_default=True,
    type=click.Choice(["1", "2"]),
    help="Camera binning (2: half the pixels, twice the pixel size).",
)
@click.option(
    "--size",
    "size",
    default="1392x1040",
    show_default=True,
    help="Unbinned tile size WIDTHxHEIGHT in pixels.",
)
@click.option(
    "--wbc-fraction",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of tiles centred near a WBC (WBCs are rare: 0.3-0.6 per frame).",
)
@click.option(
    "--defocus-sd",
    default=0.25,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Standard deviation of the focus error per tile (um).",
)
@click.option("--force", is_flag=True, help="Write into a folder that already holds a dataset.")
def simulate(
    out_dir: Path,
    tiles: int,
    donors: str | None,
    random_donors: int | None,
    seed: int,
    wavelengths: str,
    binning: str,
    size: str,
    wbc_fraction: float,
    defocus_sd: float,
    force: bool,
) -> None:
    """Export simulated tiles with ground truth (labels, cell table, Giemsa-like colour)."""
    from rich.progress import Progress

    nms = _parse_wavelengths(wavelengths)
    width, height = _parse_size(size)
    if donors and random_donors:
        raise click.UsageError("give --donors or --random-donors, not both")
    if random_donors:
        names = [f"random-{seed * 1000 + k}" for k in range(random_donors)]
    else:
        names = [n.strip() for n in (donors or "healthy").split(",") if n.strip()]
        if not names or len(set(names)) != len(names):
            raise click.BadParameter(
                f"{donors!r}: give distinct donor names", param_hint="--donors"
            )
    profiles = [get_donor(n) for n in names]  # ConfigError names the unknown donor
    manifest = out_dir / "dataset.json"
    if manifest.exists() and not force:
        raise ConfigError(f"{manifest} exists; choose another --out or pass --force")
    b = int(binning)
    camera = CameraConfig(
        width_px=width // b, height_px=height // b, pixel_size_um=CameraConfig().pixel_size_um * b
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, object]] = []
    donor_info: dict[str, dict[str, object]] = {}
    with Progress() as progress:
        task = progress.add_task("simulating tiles", total=tiles * len(names))
        for di, (name, prof) in enumerate(zip(names, profiles, strict=True)):
            slide_seed = seed * 1000 + di
            world = SimWorld(SimConfig(seed=slide_seed, donor=name), camera, donor=prof)
            rng = np.random.default_rng([seed, di, 0x5117])
            progress.update(task, description=f"{name}: backgrounds")
            imager = _DonorImager(world, nms, rng)
            donor_info[name] = {
                "slide_seed": slide_seed,
                "profile": dataclasses.asdict(prof),
                "exposure_ms": {str(k): v for k, v in imager.exposure.items()},
            }
            progress.update(task, description=f"{name}: tiles")
            for t in range(tiles):
                x, y, on_wbc = _pick_position(world, rng, rng.uniform() < wbc_fraction)
                dz = float(rng.normal(0, defocus_sd)) if defocus_sd > 0 else 0.0
                norms = {nm: imager.normalised(x, y, nm, dz) for nm in nms}
                gt = world.ground_truth(x, y)
                tile_id = f"t{t:05d}"
                rel = Path(name) / tile_id
                _write_tile(out_dir / rel, norms, gt, world, (x, y))
                records.append(
                    {
                        "id": f"{name}/{tile_id}",
                        "donor": name,
                        "path": rel.as_posix(),
                        "split": _split_for(f"{seed}/{name}/{tile_id}"),
                        "x_mm": x,
                        "y_mm": y,
                        "z_um": world.best_focus_um(x, y, 260) + dz,
                        "defocus_um": dz,
                        "n_wbc": len(gt.cells),
                        "centred_on_wbc": on_wbc,
                    }
                )
                progress.advance(task)
    manifest.write_text(
        json.dumps(
            {
                "version": DATASET_VERSION,
                "generator": f"uvscope {__version__} simulate",
                "seed": seed,
                "pixel_size_um": camera.pixel_size_um,
                "binning": b,
                "tile_shape": [camera.height_px, camera.width_px],
                "wavelengths": list(nms),
                "files": {
                    "normalised": "norm_<nm>.tif",
                    "cell_labels": "cell_labels.tif",
                    "nucleus_labels": "nucleus_labels.tif",
                    "stained_rgb": "stained_rgb.tif",
                    "cells": "cells.csv",
                    "rbc_labels": "rbc_labels.tif",
                    "platelet_labels": "platelet_labels.tif",
                    "rbcs": "rbcs.csv",
                    "platelets": "platelets.csv",
                },
                "donors": donor_info,
                "tiles": records,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    click.echo(f"wrote {len(records)} tiles from {len(names)} donor(s) to {out_dir}")
