"""Score saved simulator scans against the truth the way ``bench_differential.py`` does, after
re-analysing them (``uvscope analyze DIR --classifier CANDIDATE``): real-size figures for a
candidate network without re-scanning.

    cp -a /tmp/bench-differential/healthy_1.5_-0.8 /tmp/copy/   # a kept scan (--keep)
    PYTHONPATH=. python -m uvscope analyze /tmp/copy/healthy_1.5_-0.8 --classifier CAND \
        --no-report --replace
    PYTHONPATH=. python benchmarks/bench_rescore.py /tmp/copy/healthy_1.5_-0.8 [...]

Prints the same tables as ``bench_differential.py`` (per class, detection recall per kind,
the pre-class figures and the blast flag of the analysis's ``differential.json``) and which
classifier the analysis used. Never asserts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_differential import report  # noqa: E402

from uvscope.analysis.evaluate import evaluate_scan_folder  # noqa: E402


def main() -> None:
    for d in sys.argv[1:]:
        diff = json.loads((Path(d) / "analysis" / "differential.json").read_text())
        ev = evaluate_scan_folder(d)
        clf = diff.get("models", {}).get("classifier_card", {})
        print(f"\n# {d}: classifier sha256 {str(clf.get('sha256'))[:12]}")
        done = "complete" if ev.tiles_acquired == ev.tiles_planned else "stopped-early"
        summary = SimpleNamespace(status=done, device_time_s=0.0)
        r = {
            "donor": Path(d).name,
            "tilt": "as scanned",
            "summary": summary,
            "eval": ev,
            "wall_s": 0.0,
            "diff": diff["differential"],
        }
        report(r)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
