"""Red cells, haemoglobin and platelets at real size, scored against the simulator's truth.

    PYTHONPATH=. python benchmarks/bench_cbc.py
        [--donors healthy,thrombocytopenia,sickle,ttp-like,iron-deficiency,macrocytic,random-341]
        [--rows 26 --columns 26] [--stop 200] [--out /tmp/bench-cbc] [--keep] [--no-stain]
        [--timing] [--tiles-timing N]

For every donor: the embedded default scan file with the region enlarged to ``--rows`` x
``--columns`` tiles at the smear centre and ``stop_after_wbc = --stop``, run by the scan engine
on the built-in simulated rig with the analysis streaming beside it (as `uvscope scan` runs
it). Then, for the area the scan acquired (the union of the acquired tiles, less a 4 um
margin at the scan's outer border, where cells are partial and not counted):
platelets per 1,000 RBCs, MCH, haemoglobin-mass and diameter widths (CV), morphology shares
against the truth; every counted red cell matched to the nearest true centre (2 um), so a
true cell counted by two tiles shows as counted twice; the thrombocytopenia flag against the
true platelet count. ``--timing`` prints the per-stage analysis seconds per tile of the same
run: the red-cell and platelet stage beside the white-cell stages. Held-out slide seeds
(341+) that no training export used. Never asserts; prints a table per donor and a summary.

``--tiles-timing N`` only times: N full tiles per donor rendered first (the renderer then does
not compete for the cores as it does during a scan), analysed by one ``TilePipeline`` in
batches of 4 (networks on CPU, staining off), stage seconds per tile side by side.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.engine import ScanEngine  # noqa: E402
from uvscope.acquisition.tiles import TileSpec  # noqa: E402
from uvscope.analysis.evaluate import SimCamera  # noqa: E402
from uvscope.analysis.evaluate_cbc import score  # noqa: E402
from uvscope.analysis.models import load_models  # noqa: E402
from uvscope.analysis.pipeline import TilePipeline  # noqa: E402
from uvscope.analysis.rbc import RbcRecord  # noqa: E402
from uvscope.analysis.session import session_for_scan  # noqa: E402
from uvscope.analysis.settings import AnalysisSettings  # noqa: E402
from uvscope.classes import RBC_CLASSES  # noqa: E402
from uvscope.config import load_rig, load_scan  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.io.stage_sink import StageMosaicSink  # noqa: E402
from uvscope.report.page import write_report  # noqa: E402
from uvscope.sim.world import SimWorld  # noqa: E402

#: slide seeds of the named donors here (training used 11-13, bench_differential 301-303)
HELD_OUT_SEED = {
    "healthy": 341,
    "thrombocytopenia": 342,
    "sickle": 343,
    "ttp-like": 344,
    "iron-deficiency": 345,
    "macrocytic": 346,
    "spherocytosis": 347,
    "elliptocytosis": 348,
    "thalassaemia-like": 349,
}
MARGIN_UM = 4.0
#: top-level pipeline stages (nested ones, e.g. "segment network", are inside "networks")
STAGES = ("networks", "instances", "crops", "classify", "describe", "red cells and platelets")


def _records(path: Path) -> list[RbcRecord]:
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.append(
                RbcRecord(
                    **{
                        k: (
                            row[k] == "True"
                            if k in ("overlapped", "saturated", "counted")
                            else row[k]
                            if k in ("rbc_id", "morph")
                            else int(row[k])
                            if k == "tile"
                            else float(row[k] or "nan")
                        )
                        for k in RbcRecord.columns()
                    }
                )
            )
    return out


def _acquired(folder: Path, w_um: float, h_um: float) -> list[tuple[float, float, float, float]]:
    rects = []
    with open(folder / "tiles.jsonl", encoding="utf-8") as fh:
        for line in fh:
            t = json.loads(line)
            if "x_mm" not in t:
                continue
            x, y = float(t["x_mm"]) * 1e3, float(t["y_mm"]) * 1e3
            rects.append((x - w_um / 2, y - h_um / 2, x + w_um / 2, y + h_um / 2))
    return rects


def _inside(x: float, y: float, rects: list[tuple[float, float, float, float]]) -> bool:
    m = MARGIN_UM
    return any(a + m <= x < c - m and b + m <= y < d - m for a, b, c, d in rects) and any(
        a <= x < c and b <= y < d for a, b, c, d in rects
    )


def run_one(donor: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    rig_cfg = load_rig(None)
    seed = HELD_OUT_SEED.get(donor, int(donor.split("-")[-1]) if donor.startswith("random-") else 0)
    rig_cfg = rig_cfg.replace(sim={**rig_cfg.sim.model_dump(), "donor": donor, "seed": seed})
    scan = load_scan(None)
    centre = (
        rig_cfg.sim.slide_origin_mm[0] + rig_cfg.sim.slide_size_mm[0] / 2,
        rig_cfg.sim.slide_origin_mm[1] + rig_cfg.sim.slide_size_mm[1] / 2,
    )
    scan = scan.replace(
        region={"center_mm": centre, "rows": args.rows, "columns": args.columns},
        analysis={**scan.analysis.model_dump(), "stop_after_wbc": args.stop},
        save_raw=False,
    )
    if out.exists():
        shutil.rmtree(out)
    rig = build_rig(rig_cfg)
    t0 = time.perf_counter()
    try:
        session = session_for_scan(scan, out, stain=not args.no_stain, report=write_report)
        summary = ScanEngine(rig, scan, out, sinks=[session, StageMosaicSink()]).run()
    finally:
        rig.close()
    wall = time.perf_counter() - t0
    timer = session.worker.pipeline.timer if session.worker else None
    per_tile = timer.per_tile() if timer else {}
    world = SimWorld(rig_cfg.sim, rig_cfg.camera)
    px = rig_cfg.camera.pixel_size_um
    rects = _acquired(out, rig_cfg.camera.width_px * px, rig_cfg.camera.height_px * px)
    x0 = min(r[0] for r in rects)
    y0 = min(r[1] for r in rects)
    x1 = max(r[2] for r in rects)
    y1 = max(r[3] for r in rects)
    true_rbcs = [r for r in world.slide.rbcs_in_box(x0, y0, x1, y1) if _inside(r.cx, r.cy, rects)]
    true_plts = [
        p for p in world.slide.platelets_in_box(x0, y0, x1, y1) if _inside(p.cx, p.cy, rects)
    ]
    analysis = out / "analysis"
    doc = json.loads((analysis / "cbc.json").read_text(encoding="utf-8"))
    recs = _records(analysis / "rbc.csv")
    return {
        "donor": donor,
        "seed": seed,
        "status": summary.status,
        "tiles": len(rects),
        "wall_s": wall,
        "per_tile": per_tile,
        "doc": doc,
        "score": score(recs, true_rbcs, true_plts, []),
        "true_plts": len(true_plts),
        "diff": json.loads((analysis / "differential.json").read_text())["differential"],
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _pct(a: float | None, b: float) -> str:
    return "n/a" if a is None or not b else f"{100 * (a - b) / b:+.1f} %"


def report(r: dict[str, Any], timing: bool) -> dict[str, Any]:
    d, s = r["doc"], r["score"]
    true_per = 1000.0 * r["true_plts"] / max(s.true_rbcs, 1)
    per = d["platelets"]["per_1000_rbc"]
    hb, size = d["haemoglobin"], d["size"]
    true_low = true_per * d["rbc_per_ul"] / 1000.0 < 150e3
    flagged = {f["code"] for f in d["flags"]}
    print(
        f"\n## {r['donor']} (seed {r['seed']}): {r['status']}, {r['tiles']} tiles, wall "
        f"{r['wall_s']:.0f} s, {s.true_rbcs:,} true RBCs, {d['red_cells_counted']:,} counted, "
        f"max RSS {r['max_rss_mb']:.0f} MB"
    )
    rows = [
        ("platelets / 1,000 RBC", f"{true_per:.1f}", f"{per:.1f}", _pct(per, true_per)),
        ("MCH pg", f"{s.true_mch_pg:.2f}", f"{hb.get('mch_pg') or float('nan'):.2f}",
         _pct(hb.get("mch_pg"), s.true_mch_pg)),
        ("hb width CV %", f"{s.true_hb_cv_percent:.1f}",
         f"{hb.get('hb_width_cv_percent') or float('nan'):.1f}",
         f"{(hb.get('hb_width_cv_percent') or np.nan) - s.true_hb_cv_percent:+.1f} pt"),
        ("mean diameter um", f"{s.true_diameter_um:.2f}", f"{size['mean_diameter_um']:.2f}",
         _pct(size["mean_diameter_um"], s.true_diameter_um)),
        ("diameter CV %", f"{s.true_diameter_cv_percent:.1f}", f"{size['rdw_cv_percent']:.1f}",
         f"{size['rdw_cv_percent'] - s.true_diameter_cv_percent:+.1f} pt"),
    ]  # fmt: skip
    for name in RBC_CLASSES:
        got = d["morphology"]["classes"][name]["percent"] or 0.0
        rows.append(
            (f"{name} % (truth over all / whole cells)",
             f"{s.true_share(name):.2f} / {s.true_share(name, whole=True):.2f}", f"{got:.2f}",
             f"{got - s.true_share(name):+.2f} / {got - s.true_share(name, whole=True):+.2f} pt")
        )  # fmt: skip
    everyone = d["morphology"].get("sickle_all_cells", {}).get("percent")
    if everyone is not None:
        rows.append(
            ("sickle % over all cells (groups read)", f"{s.true_share('sickle'):.2f}",
             f"{everyone:.2f}", f"{everyone - s.true_share('sickle'):+.2f} pt")
        )  # fmt: skip
    print("| figure | truth | measured | error |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    err = np.array(s.hb_errors)
    print(
        f"counted twice (two tiles): {s.double_counted}; split within a tile: {s.splits}; "
        f"per-cell hb error median {np.median(err):+.2f} pg, mean |err| "
        f"{np.mean(np.abs(err)):.2f} pg over {err.size} matched whole cells"
    )
    print(
        f"thrombocytopenia: true {true_low}, flagged {'thrombocytopenia' in flagged}; "
        f"flags {sorted(flagged)}"
    )
    conf = {k: v for k, v in s.confusion.items() if k[0] != k[1]}
    print(f"morphology confusions (true, called): {dict(sorted(conf.items()))}")
    diff = r["diff"]
    print(
        "differential: "
        + ", ".join(f"{c['name']} {c['percent']:.1f}" for c in diff["classes"])
        + f" ({diff['healthy']} healthy WBCs)"
    )
    share = None
    if timing and r["per_tile"]:
        pt = r["per_tile"]
        total = sum(pt.get(k, 0.0) for k in STAGES)
        smear = pt.get("red cells and platelets", 0.0)
        share = smear / max(total - smear, 1e-9)
        print(
            "per tile (s): "
            + ", ".join(f"{k} {pt.get(k, 0.0):.3f}" for k in STAGES)
            + f"; red cells and platelets add {100 * share:.1f} % to the white-cell analysis"
        )
    return {
        "plt_err": (per - true_per) / true_per if true_per else None,
        "mch_err": (hb["mch_pg"] - s.true_mch_pg) / s.true_mch_pg if hb.get("mch_pg") else None,
        "twice": s.double_counted,
        "share": share,
        "thrombo_ok": true_low == ("thrombocytopenia" in flagged),
    }


def tiles_timing(donors: list[str], n: int) -> None:
    """Per-stage analysis seconds per tile on pre-rendered tiles (no renderer beside it)."""
    # no stainer: staining off, as in the scans measured with --no-stain
    pipe = TilePipeline(load_models("default", None, "default", device="cpu"), AnalysisSettings())
    for donor in donors:
        cam = SimCamera(donor, HELD_OUT_SEED.get(donor, 341))
        cx, cy = cam.world.smear_centre_mm()
        step = 0.25
        tiles = [
            cam.tile(TileSpec(i, 0, i, cx + step * (i % 4), cy + step * (i // 4))) for i in range(n)
        ]
        pipe.analyse(tiles[:1])  # warm-up (first-call costs), not timed
        pipe.timer = type(pipe.timer)()
        for i in range(0, n, 4):
            pipe.analyse(tiles[i : i + 4])
        pt = pipe.timer.per_tile()
        smear = pt.get("red cells and platelets", 0.0)
        white = sum(pt.get(k, 0.0) for k in STAGES) - smear
        print(
            f"{donor}: {n} tiles, per tile (s): "
            + ", ".join(f"{k} {pt.get(k, 0.0):.3f}" for k in STAGES)
            + f"; red cells and platelets add {100 * smear / max(white, 1e-9):.1f} %"
        )
        sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--donors",
        default="healthy,thrombocytopenia,sickle,ttp-like,iron-deficiency,macrocytic,random-341",
    )
    ap.add_argument("--rows", type=int, default=26)
    ap.add_argument("--columns", type=int, default=26)
    ap.add_argument("--stop", type=int, default=200, help="stop_after_wbc")
    ap.add_argument("--out", default="/tmp/bench-cbc")
    ap.add_argument("--keep", action="store_true", help="keep the scan folders")
    ap.add_argument("--no-stain", action="store_true", help="skip virtual staining")
    ap.add_argument("--timing", action="store_true", help="per-stage seconds per tile")
    ap.add_argument("--tiles-timing", type=int, default=0, help="only time N rendered tiles")
    args = ap.parse_args()
    if args.tiles_timing:
        tiles_timing([d for d in args.donors.split(",") if d], args.tiles_timing)
        return
    results = []
    for donor in [d for d in args.donors.split(",") if d]:
        out = Path(args.out) / donor
        r = run_one(donor, args, out)
        results.append(report(r, args.timing))
        sys.stdout.flush()
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    worst_plt = max(abs(r["plt_err"]) for r in results if r["plt_err"] is not None)
    worst_mch = max(abs(r["mch_err"]) for r in results if r["mch_err"] is not None)
    print(
        f"\nworst platelet error {100 * worst_plt:.1f} % (target 10), worst MCH error "
        f"{100 * worst_mch:.1f} % (target 5), counted twice {sum(r['twice'] for r in results)}, "
        f"thrombocytopenia flag right on {sum(r['thrombo_ok'] for r in results)}/{len(results)}"
    )


if __name__ == "__main__":
    main()
