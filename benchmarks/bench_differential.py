"""The main job at real size: a 200-WBC differential with the default scan settings, scored
against the simulator's ground truth for the tiles the scan acquired.

    PYTHONPATH=. python benchmarks/bench_differential.py
        [--donors random-301,random-302,lymphocytosis] [--tilts 1.5:-0.8,3.0:2.0]
        [--pairs donor@x:y,...] [--rows 26 --columns 26] [--stop 200] [--focus default|fixed]
        [--out /tmp/bench-diff] [--keep] [--no-stain]
    PYTHONPATH=. python benchmarks/bench_differential.py --rescore SCAN_DIR[,SCAN_DIR...]

For every donor x slide tilt: the embedded default scan file (its focus strategy, overlap,
exposure, analysis) with only the region enlarged to ``--rows`` x ``--columns`` tiles at the
smear centre and ``stop_after_wbc = --stop``, run by the scan engine on the built-in simulated
rig (virtual clock) with the analysis streaming beside it, exactly as `uvscope scan` runs it.
Then: per-class differential error in percentage points, detection recall and precision
(pooled and per true kind, the five classes and dead cells), class
accuracy of matched cells, tiles excluded as out of focus, each tile's defocus against the
slide's true surface, wall time. The pre-classes: bands %, IG %, blasts %, variant
lymphocytes %, nucleated red cells per 100 WBC (truth vs counted, the truth's base the white
cells in the 100 %, as the differential's) and whether the blast flag was raised. Held-out
donors: the named profiles take a slide seed (300+) that no training export used (training
used the pre-class donors at their own seeds and @52/@101 for validation and test). Never
asserts; prints a table per run and a pooled line.

``--rescore`` scores scan folders already acquired and analysed (a kept ``--keep`` run
re-analysed with a candidate network by `uvscope analyze --segmenter ...`): the same tables on
the same tiles, without the stop rule's say in which tiles those are.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.engine import ScanEngine  # noqa: E402
from uvscope.analysis.evaluate import (  # noqa: E402
    ScanEvaluation,
    evaluate_scan_folder,
    merge,
    preclass_shares,
    wbc_in_100,
)
from uvscope.analysis.session import session_for_scan  # noqa: E402
from uvscope.analysis.settings import CLASSES  # noqa: E402
from uvscope.config import load_rig, load_scan  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.io.stage_sink import StageMosaicSink  # noqa: E402
from uvscope.report.page import write_report  # noqa: E402

#: slide seeds of the named donor profiles here (training used 11-13: uvscope.models.simgen)
HELD_OUT_SEED = {
    "healthy": 301,
    "lymphocytosis": 302,
    "neutropenia": 303,
    "left-shift": 304,
    "acute-leukaemia-like": 305,
    "viral": 306,
    "eosinophilia": 307,
    "thalassaemia-like": 308,
    "sickle": 309,
    # the seed the monocytosis figures in RESULTS.md were measured at (a seed is a slide:
    # shared by two donors it still gives two different slides, both unseen in training)
    "monocytosis": 304,
}
#: pre-class figures printed truth vs counted (uvscope.analysis.evaluate.preclass_shares)
PRECLASS_FIGURES = (
    "band_percent",
    "ig_percent",
    "blast_percent",
    "variant_lymphocyte_percent",
    "nrbc_per_100_wbc",
)


def _tilt(text: str) -> tuple[float, float]:
    a, b = text.split(":")
    return float(a), float(b)


def run_one(donor: str, tilt: tuple[float, float], args: argparse.Namespace, out: Path) -> dict:
    rig_cfg = load_rig(None)
    if donor in HELD_OUT_SEED:
        seed = HELD_OUT_SEED[donor]
    else:
        seed = int(donor.split("-")[-1]) if donor.startswith("random-") else 0
    rig_cfg = rig_cfg.replace(
        sim={**rig_cfg.sim.model_dump(), "donor": donor, "seed": seed, "tilt_um_per_mm": tilt}
    )
    scan = load_scan(None)
    world_centre = (
        rig_cfg.sim.slide_origin_mm[0] + rig_cfg.sim.slide_size_mm[0] / 2,
        rig_cfg.sim.slide_origin_mm[1] + rig_cfg.sim.slide_size_mm[1] / 2,
    )
    changes: dict = {
        "region": {"center_mm": world_centre, "rows": args.rows, "columns": args.columns},
        "analysis": {**scan.analysis.model_dump(), "stop_after_wbc": args.stop},
        "save_raw": False,
    }
    if args.focus == "fixed":
        changes["focus"] = {**scan.focus.model_dump(), "mode": "fixed"}
    scan = scan.replace(**changes)
    if out.exists():
        shutil.rmtree(out)
    rig = build_rig(rig_cfg)
    t0 = time.perf_counter()
    try:
        session = session_for_scan(scan, out, stain=not args.no_stain, report=write_report)
        engine = ScanEngine(rig, scan, out, sinks=[session, StageMosaicSink()])
        summary = engine.run()
    finally:
        rig.close()
    wall = time.perf_counter() - t0
    ev = evaluate_scan_folder(str(out))
    return {
        "donor": donor,
        "tilt": tilt,
        "summary": summary,
        "eval": ev,
        "wall_s": wall,
        "diff": session.summary["differential"] if session.summary else None,
    }


def report(r: dict) -> list[float]:
    """Print one run's tables; returns the absolute per-class errors (pp)."""
    ev: ScanEvaluation = r["eval"]
    c = ev.counting
    s = r["summary"]
    print(
        f"\n## donor {r['donor']}, tilt {r['tilt']} um/mm: {s.status}, "
        f"{ev.tiles_acquired}/{ev.tiles_planned} tiles, wall {r['wall_s']:.0f} s, "
        f"device time {s.device_time_s:.0f} s"
    )
    print(ev.focus.summary())
    print(
        f"detection recall {c.recall:.3f}  precision {c.precision:.3f}  class accuracy "
        f"{c.class_accuracy():.3f}  (truth {c.n_truth}, counted {c.n_pred}, matched {c.tp}, "
        f"splits {c.splits}, merges {c.merges})"
    )
    nt = max(wbc_in_100(c.truth_counts), 1)
    npred = max(wbc_in_100(c.pred_counts), 1)
    err = c.differential_error_pp()
    rec = c.recall_by_kind()
    print("| class | truth | truth % | counted | counted % | error pp | found | recall |")
    print("|---|---|---|---|---|---|---|---|")
    for k in CLASSES:
        print(
            f"| {k} | {c.truth_counts[k]} | {100 * c.truth_counts[k] / nt:.1f} | "
            f"{c.pred_counts[k]} | {100 * c.pred_counts[k] / npred:.1f} | {err[k]:+.1f} | "
            f"{rec[k][0]} | {rec[k][2]:.3f} |"
        )
    print(
        f"| dead | {c.truth_counts['dead']} | | {c.pred_counts['dead']} | | | "
        f"{rec['dead'][0]} | {rec['dead'][2]:.3f} |"
    )
    missed: dict[str, int] = {}
    for t in c.missed:
        missed[t.kind] = missed.get(t.kind, 0) + 1
    print(f"missed by kind: {missed}")
    preclass_report(r)
    return [abs(v) for v in err.values()]


def preclass_report(r: dict) -> None:
    """Pre-class figures truth vs counted, and the blast flag against the truth's blasts."""
    c = r["eval"].counting
    truth, counted = preclass_shares(c.truth_counts), preclass_shares(c.pred_counts)
    print("| pre-class figure | truth | counted | error |")
    print("|---|---|---|---|")
    for k in PRECLASS_FIGURES:
        print(f"| {k} | {truth[k]:.1f} | {counted[k]:.1f} | {counted[k] - truth[k]:+.1f} |")
    flags = [f["code"] for f in ((r["diff"] or {}).get("flags") or [])]
    print(
        f"blasts: truth {int(truth['blasts'])} ({truth['blast_percent']:.1f} %), counted "
        f"{int(counted['blasts'])}; blast flag raised: {'blasts' in flags}; flags {flags}"
    )
    confusion = {t: dict(row) for t, row in c.confusion.items() if t not in CLASSES}
    print(f"pre-class confusion (truth -> counted): {confusion}")


def rescore_one(scan_dir: Path) -> dict:
    """``run_one``'s result for a scan folder that is already analysed (no scan run)."""
    diff = json.loads((scan_dir / "analysis" / "differential.json").read_text())
    rig = json.loads((scan_dir / "manifest.json").read_text()).get("rig", {})
    sim = rig.get("sim") or {}
    summary = argparse.Namespace(status="re-analysed", device_time_s=0.0)
    card = diff.get("models", {}).get("classifier_card", {})
    classifier = str(card.get("sha256"))[:12]
    return {
        "donor": f"{sim.get('donor', '?')}@{sim.get('seed', '?')} ({scan_dir})"
        f" classifier {classifier}",
        "tilt": tuple(sim.get("tilt_um_per_mm") or ()),
        "summary": summary,
        "eval": evaluate_scan_folder(str(scan_dir)),
        "wall_s": 0.0,
        "diff": diff,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--donors", default="random-301,random-302,lymphocytosis")
    ap.add_argument("--tilts", default="1.5:-0.8,3.0:2.0", help="x:y slide tilts in um/mm")
    ap.add_argument(
        "--pairs", default="", help="donor@x:y,... runs instead of every donor x every tilt"
    )
    ap.add_argument("--rows", type=int, default=26)
    ap.add_argument("--columns", type=int, default=26)
    ap.add_argument("--stop", type=int, default=200, help="stop_after_wbc")
    ap.add_argument("--focus", choices=("default", "fixed"), default="default")
    ap.add_argument("--out", default="/tmp/bench-differential")
    ap.add_argument("--keep", action="store_true", help="keep the scan folders")
    ap.add_argument(
        "--no-stain",
        action="store_true",
        help="skip virtual staining (no count changes; halves the analysis time)",
    )
    ap.add_argument(
        "--rescore", default="", help="comma-separated analysed scan folders to score (no scan)"
    )
    args = ap.parse_args()
    worst: list[float] = []
    recalls, precisions = [], []
    evals = []
    if args.pairs:
        runs = [(p.split("@")[0], _tilt(p.split("@")[1])) for p in args.pairs.split(",") if p]
    else:
        runs = [
            (d, _tilt(t)) for d in args.donors.split(",") if d for t in args.tilts.split(",") if t
        ]
    if args.rescore:
        runs = []
        for d in args.rescore.split(","):
            r = rescore_one(Path(d))
            worst.append(max(report(r)))
            recalls.append(r["eval"].counting.recall)
            precisions.append(r["eval"].counting.precision)
            evals.append(r["eval"].counting)
    for donor, tilt in runs:
        out = Path(args.out) / f"{donor}_{tilt[0]}_{tilt[1]}"
        r = run_one(donor, tilt, args, out)
        errs = report(r)
        sys.stdout.flush()
        worst.append(max(errs))
        recalls.append(r["eval"].counting.recall)
        precisions.append(r["eval"].counting.precision)
        evals.append(r["eval"].counting)
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print(
        f"\nworst per-class error over all runs {max(worst):.1f} pp (target <= 3); "
        f"lowest recall {min(recalls):.3f} (target >= 0.95); "
        f"lowest precision {min(precisions):.3f} (target >= 0.98)"
    )
    pooled = merge(evals).recall_by_kind()
    print(
        "pooled detection recall by kind (targets: >= 0.95 each class, >= 0.90 dead): "
        + ", ".join(f"{k} {f}/{n} = {v:.3f}" for k, (f, n, v) in pooled.items())
    )


if __name__ == "__main__":
    main()
