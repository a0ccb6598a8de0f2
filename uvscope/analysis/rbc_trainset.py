"""Red-cell crops for ``uvscope train rbc``, cut as the analysis cuts them: simulated, or the
reviewed red cells of a lab's analysed scans.

Each tile of a simulated donor is analysed by ``SmearAnalyser`` exactly as in a scan; every
whole red cell it finds (not overlapped, not on the tile's edge) whose centre lies within
``MATCH_UM`` of a true cell that overlaps no other is written with the truth's class, as the
analysis's own input to the network (binned OD and the cell's mask). The folder has the layout
of a lab's own crops (``uvscope.models.rbc_crops``), so both are trained by one code path.

    PYTHONPATH=. python -m uvscope.analysis.rbc_trainset --out data/rbc

A lab's analysed scans whose red cells were reviewed in the GUI (``reviewed_rbc.csv``) train
the network directly (``uvscope train rbc --data SCAN --data SCAN ...``): each tile holding a
reviewed red cell is analysed again from its saved images and the cell found again at its
recorded position; the scan folder is the slide, kept on one side of the split.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from scipy.spatial import cKDTree

from uvscope.acquisition.tiles import TileSpec
from uvscope.analysis.evaluate import SimCamera
from uvscope.analysis.evaluate_cbc import MATCH_UM, true_morph, truth_in_box
from uvscope.analysis.rbc import Shapes
from uvscope.analysis.rbc_classify import rule_morphology
from uvscope.analysis.rbc_review import load_reviewed_rbc
from uvscope.analysis.session import read_tiles, smear_context
from uvscope.analysis.settings import CbcSettings
from uvscope.analysis.smear import SmearAnalyser, SmearTile
from uvscope.classes import RBC_CLASSES
from uvscope.errors import ModelError
from uvscope.io.ome import read_ome_tiff
from uvscope.io.scanfolder import ScanFolder
from uvscope.models.arch import RbcConfig
from uvscope.models.rbc_crops import RbcCrops
from uvscope.models.rbc_net import cut_crops

#: donors whose red cells cover every class (normal cells from all of them)
TRAIN_DONORS = (
    "healthy",
    "sickle",
    "ttp-like",
    "spherocytosis",
    "elliptocytosis",
    "thalassaemia-like",
    "iron-deficiency",
    "macrocytic",
)
#: tile shape rendered (a quarter of the default camera's: whole cells, fast)
SHAPE = (520, 696)


class _Collector:
    """The rule set, keeping each whole piece's network input on the side."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.crops: dict[int, np.ndarray] = {}

    def __call__(
        self, od: np.ndarray, pieces: np.ndarray, shapes: Shapes, whole: np.ndarray, px_um: float
    ) -> np.ndarray:
        ks = np.nonzero(whole)[0]
        ks = ks[ks > 0]
        x = cut_crops(od, pieces, ks, shapes.row[ks], shapes.col[ks], self.size)
        self.crops = {int(k): x[i] for i, k in enumerate(ks)}
        return rule_morphology(od, pieces, shapes, whole, px_um)


def labelled_cells(
    cam: SimCamera, spec: TileSpec, collector: _Collector, analyser: SmearAnalyser
) -> list[tuple[str, int, np.ndarray]]:
    """(true class, piece label, network input) of the tile's whole cells matched to a whole
    true cell."""
    tile = cam.tile(spec)
    wbc = cam.world.ground_truth(spec.x_mm, spec.y_mm).cell_labels
    res: SmearTile = analyser.analyse(tile, wbc, None)
    hx, hy = cam.half_um()
    cx, cy = spec.x_mm * 1e3, spec.y_mm * 1e3
    truth, _ = truth_in_box(cam.world, (cx - hx - 10, cy - hy - 10, cx + hx + 10, cy + hy + 10))
    if not truth:
        return []
    tree = cKDTree([(r.cx, r.cy) for r in truth])
    out = []
    for rec in res.rbcs:
        k = int(rec.rbc_id.split("r")[-1])
        if not rec.counted or k not in collector.crops:
            continue
        dist, j = tree.query((rec.x_um, rec.y_um))
        if dist <= MATCH_UM and not truth[j].overlapped:
            out.append((true_morph(truth[j]), k, collector.crops[k]))
    return out


def export(
    out: Path,
    donors: tuple[str, ...],
    seeds: tuple[int, ...],
    tiles: int,
    normal_share: float = 0.15,
    log: Any = print,
) -> Counter[str]:
    """Write every matched whole cell's crop (``normal_share`` of the normal ones) to
    ``out/<class>/`` with groups.csv (donor and slide seed); returns the count per class."""
    cfg = RbcConfig()
    counts: Counter[str] = Counter()
    rows = []
    rng = np.random.default_rng(0)
    for donor in donors:
        for seed in seeds:
            cam = SimCamera(donor, seed, shape=SHAPE)
            collector = _Collector(cfg.crop_size)
            analyser = SmearAnalyser(morphology=collector)
            x0, y0 = cam.world.smear_centre_mm()
            step_mm = SHAPE[1] * cam.px * 1.1e-3
            for t in range(tiles):
                spec = TileSpec(t, 0, t, x0 + (t - tiles // 2) * step_mm, y0)
                for cls, k, x in labelled_cells(cam, spec, collector, analyser):
                    if cls == "normal" and rng.random() > normal_share:
                        continue
                    name = f"{donor}-s{seed}-t{t}-r{k}"
                    (out / cls).mkdir(parents=True, exist_ok=True)
                    tifffile.imwrite(
                        out / cls / f"{name}.tif",
                        x * np.array([cfg.od_scale, 1.0], np.float32)[:, None, None],
                    )
                    rows.append((name, f"{donor}-s{seed}"))
                    counts[cls] += 1
            log(f"{donor} seed {seed}: {dict(counts)}")
    with open(out / "groups.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "group"])
        w.writerows(rows)
    (out / "dataset.toml").write_text(
        f"pixel_size_um = {cfg.pixel_size_um}\nnormal_share = {normal_share}\n"
        f'description = "simulated red-cell crops '
        f'(uvscope.analysis.rbc_trainset), donors {", ".join(donors)}, seeds {list(seeds)}"\n'
    )
    return counts


#: a reviewed red cell is found again within this of its recorded position (um)
REFIND_UM = 1.0


def _reviewed_cells(scan: Path) -> dict[int, list[tuple[float, float, str]]]:
    """Per tile, (x_um, y_um, class) of the red cells a reviewer put in a red-cell class."""
    rows = load_reviewed_rbc(scan)
    if not rows:
        raise ModelError(
            f"{scan} has no reviewed red cells (analysis/reviewed_rbc.csv); review them in "
            "`uvscope gui` (Red cells and platelets) or leave this scan out"
        )
    with open(scan / "analysis" / "reviewed_rbc.csv", newline="", encoding="utf-8") as fh:
        pos = {r["object_id"]: (float(r["x_um"]), float(r["y_um"])) for r in csv.DictReader(fh)}
    out: dict[int, list[tuple[float, float, str]]] = {}
    for oid, rev in rows.items():
        if rev.reviewed in RBC_CLASSES:  # platelets and "not a red cell" teach no class
            out.setdefault(rev.tile, []).append((*pos[oid], rev.reviewed))
    return out


def _tile_wbc(scan: Path, index: int) -> np.ndarray | None:
    path = scan / "analysis" / "labels" / f"tile_{index:05d}.tif"
    return read_ome_tiff(path)[0][0] if path.exists() else None


def reviewed_rbc_crops(
    scans: list[Path], size: int, net_px_um: float, settings: CbcSettings | None = None
) -> RbcCrops:
    """The network inputs of every reviewed red cell of ``scans`` (group: the scan folder);
    a reviewed cell the analysis does not find again is an error naming it."""
    xs, labels, group, names = [], [], [], []
    for scan in scans:
        cells = _reviewed_cells(scan)
        folder = ScanFolder.open(scan)
        manifest = folder.read_manifest()
        px = 2.0 * folder.plan().pixel_size_um
        if abs(px - net_px_um) > 0.01:
            raise ModelError(
                f"{scan}: the analysis sees red cells at {px:.3f} um/px, the network takes "
                f"{net_px_um} um/px; own red-cell crops must be resampled (crop folders with "
                "dataset.toml) for this rig"
            )
        _, hb, bg = smear_context(manifest)
        collector = _Collector(size)
        analyser = SmearAnalyser(settings, hb, background_usable=bg, morphology=collector)
        for tile in read_tiles(folder, sorted(cells)):
            res = analyser.analyse(tile, _tile_wbc(scan, tile.index), None)
            found = [r for r in res.rbcs if int(r.rbc_id.split("r")[-1]) in collector.crops]
            tree = cKDTree([(r.x_um, r.y_um) for r in found]) if found else None
            for x_um, y_um, cls in cells.pop(tile.index):
                dist, j = tree.query((x_um, y_um)) if tree is not None else (np.inf, 0)
                if dist > REFIND_UM:
                    raise ModelError(
                        f"{scan}: the reviewed red cell at ({x_um:.1f}, {y_um:.1f}) um of tile "
                        f"{tile.index} is not found again as a whole cell; re-run `uvscope "
                        "analyze` with the settings of the review, or leave this scan out"
                    )
                xs.append(collector.crops[int(found[j].rbc_id.split("r")[-1])])
                labels.append(RBC_CLASSES.index(cls))
                group.append(scan.name)
                names.append(f"{scan.name}/{found[j].rbc_id}")
        if cells:
            raise ModelError(
                f"{scan}: tiles {sorted(cells)} hold reviewed red cells but cannot be read; "
                "restore them or leave this scan out"
            )
    # reviewed cells are those a reviewer chose to change: their counts are no prevalence
    return RbcCrops(np.stack(xs), np.array(labels, np.int64), group, names, normal_share=None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--donors", nargs="+", default=list(TRAIN_DONORS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--tiles", type=int, default=4, help="tiles per donor and seed")
    a = ap.parse_args()
    counts = export(a.out, tuple(a.donors), tuple(a.seeds), a.tiles)
    print(f"wrote {sum(counts.values())} crops to {a.out}: {dict(counts)}")


if __name__ == "__main__":
    main()
