"""WBC-centred training tiles from the simulated world, in the `uvscope simulate` layout.

WBCs are sparse (about one per camera field), so a scan-like export holds few cells per CPU
minute. This writes small fields centred (with jitter) on chosen WBCs, rare kinds and dead
cells drawn as often as common ones, plus some random fields, with donors split into train,
val and test (test donors: profiles and seeds never used in training). A donor written
``name@seed`` is the named profile on another slide seed: the pre-class donors (left shift,
blasts, variant lymphocytes, nucleated red cells) are held out that way, since their profile
is what carries the pre-classes. A ``clutter-<base>`` donor (``CLUTTER_BASES``) is the base
donor's red cells piled up with debris and platelet clumps and no WBC: every field of it is a
hard negative for the segmentation (``--clutter-tiles`` fields per slide).

    PYTHONPATH=. python -m uvscope.models.simgen --out data/sim --tiles-per-kind 6
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import zlib
from collections.abc import Collection
from pathlib import Path

import numpy as np
import tifffile

from uvscope.config import CameraConfig, SimConfig
from uvscope.sim.donors import DonorProfile, get_donor
from uvscope.sim.world import CellRecord, SimWorld

#: the donors that carry the pre-classes (bands, immature granulocytes, blasts, ...)
PRECLASS_DONORS = (
    "eosinophilia",
    "left-shift",
    "acute-leukaemia-like",
    "viral",
    "thalassaemia-like",
)

#: hard negatives: red cells of these donors piled up (stacked, overlapping), with debris and
#: platelet clumps. A network fine-tuned on the pre-class donors alone took such piles for
#: white cells (NRBC, basophils) on healthy slides; these fields teach it "no WBC" there.
CLUTTER_BASES = ("healthy", "sickle", "thalassaemia-like")
CLUTTER = "clutter-"


SPLIT = {
    "train": [
        "healthy",
        "lymphocytosis",
        "neutropenia",
        "random-1",
        "random-2",
        "random-3",
        "random-4",
        "random-5",
        *PRECLASS_DONORS,
        *(f"{CLUTTER}{b}" for b in CLUTTER_BASES),
    ],
    "val": [
        "random-51",
        "random-52",
        *(f"{d}@52" for d in PRECLASS_DONORS),
        *(f"{CLUTTER}{b}@52" for b in CLUTTER_BASES),
    ],
    "test": [
        "random-101",
        "random-102",
        "random-103",
        "random-104",
        *(f"{d}@101" for d in PRECLASS_DONORS),
        *(f"{CLUTTER}{b}@101" for b in CLUTTER_BASES),
    ],
}


def clutter_profile(base: str, overlap: float = 0.6, coverage: float = 0.45) -> DonorProfile:
    """``base``'s red cells and platelets, stacked and crowded, with heavy debris and no WBC
    (the clutter of tests/analysis/test_detection_kinds.py)."""
    return dataclasses.replace(
        get_donor(base),
        name=f"{CLUTTER}{base}",
        wbc_per_mm2=0.0,
        debris_per_mm2=1500.0,
        dust_per_mm2=0.0,
        platelets_per_rbc=0.15,
        platelet_clump_prob=0.6,
        rbc_overlap_prob=overlap,
        rbc_coverage=coverage,
    )


def _profile(donor: str) -> str:
    """The donor profile of a split entry (``name@seed`` -> ``name``; ``clutter-<base>`` ->
    ``base``, whose clutter_profile the export then draws)."""
    return donor.split("@", 1)[0].removeprefix(CLUTTER)


def _seed(donor: str) -> int:
    if "@" in donor:
        return int(donor.split("@", 1)[1])
    named = {"healthy": 11, "lymphocytosis": 12, "neutropenia": 13}
    if donor in named:
        return named[donor]
    if donor.startswith("random-"):
        return int(donor.split("-")[1])
    return zlib.crc32(donor.encode()) % 1000


def export_donor(
    out: Path,
    donor: str,
    size_px: int,
    per_kind: int,
    n_random: int,
    rng: np.random.Generator,
    kinds: Collection[str] | None = None,
) -> int:
    """Write WBC-centred fields (``per_kind`` of each kind and of dead cells) and ``n_random``
    random ones of one donor; a ``clutter-<base>`` donor has no WBC, so all of its fields are
    random and every pixel is background. ``kinds`` (e.g. ``{"smudge", "dead"}``) centres
    fields on those kinds only: extra fields of the rare cells a network misses."""
    base = _profile(donor)
    world = SimWorld(
        SimConfig(seed=_seed(donor), donor=base),
        CameraConfig(width_px=size_px, height_px=size_px),
        donor=clutter_profile(base) if donor.startswith(CLUTTER) else None,
    )
    cx, cy = world.smear_centre_mm()
    cells = world.cells_in_region(cx - 4, cy - 4, cx + 4, cy + 4)
    groups: dict[str, list[CellRecord]] = {}
    for c in cells:
        groups.setdefault("dead" if c.dead else c.kind, []).append(c)
    targets = []
    for g in sorted(groups):
        if kinds is not None and g not in kinds:
            continue
        pick = rng.permutation(len(groups[g]))[:per_kind]
        targets += [groups[g][i].centroid_mm for i in pick]
    targets += [(cx + rng.uniform(-3, 3), cy + rng.uniform(-3, 3)) for _ in range(n_random)]
    exp = world.suggest_exposure_ms(260)
    bx, by = world.blank_position_mm()
    bz = world.best_focus_um(bx, by)
    bg = np.mean(
        [world.render(bx, by, bz, 260, exp, rng).astype(np.float32) for _ in range(2)], axis=0
    )
    dark = world.render(bx, by, bz, None, exp, rng).astype(np.float32)
    span = size_px * world.pixel_size_um * 1e-3 / 4
    for i, (x, y) in enumerate(targets):
        x, y = x + rng.uniform(-span, span), y + rng.uniform(-span, span)
        z = world.best_focus_um(x, y) + rng.normal(0, 0.4)
        raw = world.render(x, y, z, 260, exp, rng).astype(np.float32)
        norm = (raw - dark) / np.maximum(bg - dark, 1.0)
        gt = world.ground_truth(x, y)
        d = out / donor / f"t{i:04d}"
        d.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(d / "norm_260.tif", norm.astype(np.float32))
        tifffile.imwrite(d / "cell_labels.tif", gt.cell_labels.astype(np.int32))
        tifffile.imwrite(d / "nucleus_labels.tif", gt.nucleus_labels.astype(np.int32))
        tifffile.imwrite(d / "stained_rgb.tif", gt.stained_rgb)
        with open(d / "cells.csv", "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["id", "kind", "dead", "x_mm", "y_mm", "diameter_um"])
            for c in gt.cells:
                wr.writerow(
                    [c.id, c.kind, int(c.dead), c.centroid_mm[0], c.centroid_mm[1], c.diameter_um]
                )
    return len(targets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=384, help="field size in camera pixels (0.16 um)")
    ap.add_argument("--tiles-per-kind", type=int, default=15)
    ap.add_argument("--random-tiles", type=int, default=4)
    ap.add_argument(
        "--clutter-tiles", type=int, default=30, help="fields of each clutter-<base> donor"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val", default=",".join(SPLIT["val"]), help="comma-separated val donors")
    ap.add_argument("--test", default=",".join(SPLIT["test"]), help="comma-separated test donors")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    split_map = {"train": SPLIT["train"], "val": args.val.split(","), "test": args.test.split(",")}
    counts = {}
    for split, donors in split_map.items():
        for donor in donors:
            n_random = args.clutter_tiles if donor.startswith(CLUTTER) else args.random_tiles
            counts[donor] = export_donor(
                args.out, donor, args.size, args.tiles_per_kind, n_random, rng
            )
            print(f"{split:5s} {donor:14s} {counts[donor]} tiles", flush=True)
    meta = {
        "pixel_size_um": 0.16,
        "wavelength_nm": 260,
        "split": split_map,
        "tiles": counts,
        "generator": "uvscope.models.simgen",
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "dataset.json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
