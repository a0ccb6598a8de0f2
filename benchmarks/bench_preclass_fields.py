"""Every pre-class on a few fields: is it segmented (detection recall of that kind) and what does
the classifier call it, against the simulator's truth, with the shipped (or given) networks.

    PYTHONPATH=. python benchmarks/bench_preclass_fields.py [--fields 8] [--shape 512x640]
        [--segmenter default] [--classifier default] [--kinds blast,nrbc,...]
        [--settings thresholds.toml]

Each kind is looked for on a donor that carries it, at a slide seed no training export used
(uvscope.models.simgen trained on the pre-class donors at their own seeds, validated at @52
and tested at @101). Fields are centred on true cells of the kind; every true WBC in a field is
scored, the table lists the centred kind's cells only. Never asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.analysis.evaluate import SimCamera, wbc_fields  # noqa: E402
from uvscope.analysis.models import load_models  # noqa: E402
from uvscope.analysis.pipeline import TilePipeline  # noqa: E402
from uvscope.analysis.settings import load_settings  # noqa: E402
from uvscope.classes import PRECLASSES  # noqa: E402

#: a donor that carries each pre-class, and the held-out slide seed it is read on
DONOR_OF = {
    "band_neutrophil": "left-shift",
    "metamyelocyte": "left-shift",
    "myelocyte": "left-shift",
    "promyelocyte": "left-shift",
    "blast": "acute-leukaemia-like",
    "variant_lymphocyte": "viral",
    "plasma_cell": "viral",
    "nrbc": "thalassaemia-like",
    "smudge": "acute-leukaemia-like",
}
SEED = 401


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fields", type=int, default=8)
    ap.add_argument("--shape", default="512x640")
    ap.add_argument("--segmenter", default="default", help="segment weights (a candidate)")
    ap.add_argument("--classifier", default="default")
    ap.add_argument("--kinds", default=",".join(PRECLASSES))
    ap.add_argument("--settings", default=None, help="analysis settings TOML (thresholds)")
    args = ap.parse_args()
    h, w = (int(v) for v in args.shape.split("x"))
    models = load_models(args.segmenter, None, args.classifier, device="cpu")
    pipe = TilePipeline(models, load_settings(args.settings))
    print(f"classifier outputs: {getattr(models.classifier, 'classes', None)}")
    print("| kind | donor | true cells | detected | recall | called right | called as |")
    print("|---|---|---|---|---|---|---|")
    t0 = time.perf_counter()
    for kind in args.kinds.split(","):
        cam = SimCamera(DONOR_OF[kind], SEED, shape=(h, w))
        ev = wbc_fields(pipe, cam, args.fields, seed=1, batch=4, kinds=(kind,))
        n = ev.truth_counts[kind]
        called = ev.confusion.get(kind, Counter())
        det = sum(called.values())
        right = called[kind]
        top = ", ".join(f"{k} {v}" for k, v in called.most_common(4))
        print(
            f"| {kind} | {DONOR_OF[kind]} | {n} | {det} | {det / max(n, 1):.2f} | "
            f"{right}/{det} | {top} |",
            flush=True,
        )
    print(f"wall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
