"""The end of a whole-smear scan at any size: registration solve + the four analysis mosaics.

    PYTHONPATH=. nice -n 10 python benchmarks/bench_end_products.py --tiles 500 2000

What grows with the number of tiles is the end of a scan (the issue measured 9.15 GB at 676
tiles there); acquisition and per-tile analysis run behind bounded queues. This builds, in a
fresh process per size, a scan folder of N tiles at the default scan geometry (1392 x 1040 px,
0.16 um, 15 % overlap, serpentine), each tile's files hard links to one of four synthetic
templates (real sizes and codecs: raw uint16, labels, stained RGB; no pipeline run), feeds
every tile through ``AnalysisOutputs`` as the analysis worker does (streaming registration on
the gray tile and, since the mosaics are rendered during the scan, the tile into the four
analysis mosaics: bands written as soon as the tiles under them are in), then times
``write_mosaics`` (what is left after the last tile: the last bands and the pyramid files)
and records the peak RSS of the process (``ru_maxrss``) at the end.

``--one-shot`` feeds only the registration and leaves every mosaic to the end (every tile
read back then), as before the mosaics were streamed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPE, PX_UM, OVERLAP = (1040, 1392), 0.16, 0.15


def _templates(rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    from scipy import ndimage as ndi

    out = []
    for _ in range(4):
        field = ndi.gaussian_filter(rng.random(SHAPE), 3.0)
        trans = 0.75 + 0.5 * (field - field.mean()) / field.std() * 0.1
        raw = np.clip(trans * 8000 + 100 + rng.normal(0, 90, SHAPE), 0, 16383).astype(np.uint16)
        lab = np.zeros(SHAPE, np.uint16)
        yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
        for k in range(1, 13):
            cy, cx = rng.integers(60, SHAPE[0] - 60), rng.integers(60, SHAPE[1] - 60)
            lab[(yy - cy) ** 2 + (xx - cx) ** 2 < 40**2] = k
        g = (trans * 255).clip(0, 255).astype(np.uint8)
        out.append({"raw": raw, "labels": np.stack([lab, lab]), "stained": np.dstack([g, g, g])})
    return out


def build(root: Path, n: int) -> tuple[list[SimpleNamespace], float]:
    from uvscope.io.ome import ImageMeta, write_ome_tiff
    from uvscope.io.scanfolder import ScanFolder, TileRecord

    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    step_x = SHAPE[1] * PX_UM * 1e-3 * (1 - OVERLAP)
    step_y = SHAPE[0] * PX_UM * 1e-3 * (1 - OVERLAP)
    pos = []
    for r in range(rows):
        for k in range(cols):
            c = k if r % 2 == 0 else cols - 1 - k
            if len(pos) < n:
                pos.append([len(pos), r, c, 30.0 + c * step_x, 20.0 + r * step_y])
    folder = ScanFolder.create(
        root, {"plan": {"tiles": n, "pixel_size_um": PX_UM, "wavelengths": [260], "positions": pos}}
    )
    meta = ImageMeta(PX_UM, 260)
    write_ome_tiff(folder.background_path(260), np.full(SHAPE, 8100.0, np.float32), meta)
    write_ome_tiff(folder.dark_path(260), np.full(SHAPE, 100.0, np.float32), meta)
    tdir = root / "templates"
    tdir.mkdir()
    templates = _templates(np.random.default_rng(0))
    for t, tpl in enumerate(templates):
        write_ome_tiff(tdir / f"raw{t}.tif", tpl["raw"], meta)
        write_ome_tiff(
            tdir / f"lab{t}.tif", tpl["labels"], meta, axes="CYX", channel_names=["cells", "nuclei"]
        )
        write_ome_tiff(tdir / f"st{t}.tif", tpl["stained"], meta)
    (root / "analysis.partial" / "labels").mkdir(parents=True)
    (root / "analysis.partial" / "stained").mkdir(parents=True)
    results = []
    for i, _r, _c, x, y in pos:
        t = i % 4
        os.link(tdir / f"raw{t}.tif", folder.raw_path(i, 260))
        os.link(tdir / f"lab{t}.tif", root / "analysis.partial" / "labels" / f"tile_{i:05d}.tif")
        os.link(tdir / f"st{t}.tif", root / "analysis.partial" / "stained" / f"tile_{i:05d}.tif")
        folder.append_tile(TileRecord(i, _r, _c, x, y, 0.0, [260], {"260": 50.0}, "bg0", 0.0))
        cells = [SimpleNamespace(label=k, cell_class="neutrophil") for k in range(1, 13)]
        results.append(
            SimpleNamespace(
                index=i,
                failed=False,
                shape=SHAPE,
                pixel_size_um=PX_UM,
                x_mm=x,
                y_mm=y,
                counted=cells,
            )
        )
    return results, sum(p.stat().st_size for p in tdir.iterdir()) / 4


def one(n: int, one_shot: bool = False) -> dict[str, object]:
    from uvscope.analysis.outputs import AnalysisOutputs
    from uvscope.analysis.settings import AnalysisSettings

    base = Path(tempfile.mkdtemp())
    try:
        results, per_tile_bytes = build(base / "scan", n)
        out = AnalysisOutputs(
            base / "scan", fresh=False, settings=AnalysisSettings(), mosaic_pixel_size_um=0.32
        )
        t0 = time.monotonic()
        last = 0.0
        for r in results:  # what the worker does per tile, as each is analysed
            t_tile = time.monotonic()
            gray = out.load_gray(r.index)
            out._register(r.index, gray, (r.x_mm, r.y_mm))
            if not one_shot:  # the tile as the worker's result carries it
                lab = out.load_labels(r.index)
                st = out.load_stained(r.index)
                res = SimpleNamespace(**vars(r), gray=gray, labels=lab, stained=st)
                out._add_to_mosaics(res)  # type: ignore[arg-type]
            del gray
            last = time.monotonic() - t_tile
        t1 = time.monotonic()
        _, info = out.write_mosaics(results)  # type: ignore[arg-type]
        t2 = time.monotonic()
        mosaics = sum(
            out.mosaic_path(k).stat().st_size for k in ("gray", "stained", "labels", "outlines")
        )
        return {
            "tiles": n,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "registration_feed_s": t1 - t0,
            "end_products_s": t2 - t1,
            "last_tile_feed_s": last,
            "one_shot": one_shot,
            "bands_after_last_tile": info.get("bands_after_last_tile"),
            "pairs_accepted": info["pairs_accepted"],
            "pairs": len(info["pairs"]),
            "scale": info["scale"],
            "mosaic_mb_per_tile": mosaics / 1e6 / n,
            "template_tile_mb": per_tile_bytes / 1e6,
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--one-shot", action="store_true", help="mosaics only at the end")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.tiles[0], a.one_shot)))
        return
    for n in a.tiles:
        res = subprocess.run(
            [sys.executable, __file__, "--one", "--tiles", str(n)]
            + (["--one-shot"] if a.one_shot else []),
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            print(f"{n} tiles: failed\n{res.stderr[-3000:]}", flush=True)
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(
            f"{r['tiles']} tiles: peak RSS {r['peak_rss_mib']:.0f} MiB; registration fed tile "
            f"by tile{'' if r['one_shot'] else ' with the mosaics'} in "
            f"{r['registration_feed_s']:.0f} s; end products (solve + 4 mosaics) "
            f"{r['end_products_s']:.1f} s after the last tile's feed (which took "
            f"{r['last_tile_feed_s']:.1f} s; {r['bands_after_last_tile']} bands left after it); "
            f"pairs {r['pairs_accepted']}/{r['pairs']}; mosaic "
            f"downsample {r['scale']}, {r['mosaic_mb_per_tile']:.2f} MB per tile",
            flush=True,
        )


if __name__ == "__main__":
    main()
