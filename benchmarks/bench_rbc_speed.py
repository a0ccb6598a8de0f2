"""The red-cell and platelet step against the white-cell stages, base code and new side by side.

    git worktree add /tmp/base <base commit>
    PYTHONPATH=. python benchmarks/bench_rbc_speed.py --base /tmp/base
        [--donors healthy,sickle,ttp-like] [--tiles 8] [--rounds 2]
    PYTHONPATH=. python benchmarks/bench_rbc_speed.py --memory 50,200

N full tiles per donor are rendered first (held-out slide seeds of bench_cbc; the renderer then
does not compete for the cores), then analysed by one ``TilePipeline`` (networks on CPU,
staining off, batches of 4) in alternating rounds: once with the base code's ``SmearAnalyser``
(imported from the ``--base`` worktree, so both run in this one process on the same tiles and
the same white-cell masks) and once with this code's. Printed per donor:

- seconds per tile of the white-cell stages and of "red cells and platelets" (the pipeline's
  ``StageTimer``, wall time, summed over the rounds of each code) and the share: red-cell step /
  white-cell stages, as benchmarks/RESULTS.md's tables define it;
- the red-cell step alone, CPU milliseconds per tile (best of 3 per tile, base and new
  alternating): the figure the machine's load disturbs least;
- every difference between the base and the new per-cell records (all fields), platelet
  records and visible fractions (none: "identical"), and whether the cbc.json document built
  from each set of records is the same.

``--memory 50,200`` analyses that many tiles (the rendered ones in turn, records kept as a scan
keeps them) in a fresh process each and prints the peak RSS: flat in tiles but for the records.
Never asserts.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import resource
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.acquisition.tiles import Tile, TileSpec  # noqa: E402
from uvscope.analysis.cbc import CbcAccumulator  # noqa: E402
from uvscope.analysis.evaluate import SimCamera  # noqa: E402
from uvscope.analysis.models import load_models  # noqa: E402
from uvscope.analysis.pipeline import StageTimer, TilePipeline  # noqa: E402
from uvscope.analysis.settings import AnalysisSettings  # noqa: E402
from uvscope.analysis.smear import SmearAnalyser, SmearTile  # noqa: E402

SEEDS = {"healthy": 341, "thrombocytopenia": 342, "sickle": 343, "ttp-like": 344}
#: top-level white-cell stages (bench_cbc.STAGES less the red-cell step)
WHITE = ("networks", "instances", "crops", "classify", "describe")
SMEAR = "red cells and platelets"


def base_analyser(path: str) -> Any:
    """A ``SmearAnalyser`` of the code in ``path`` beside this code's, in this process: the
    base modules are imported under their own names, then this code's are put back."""
    ours = {k: m for k, m in sys.modules.items() if k == "uvscope" or k.startswith("uvscope.")}
    for k in ours:
        del sys.modules[k]
    sys.path.insert(0, path)
    try:
        smear: ModuleType = importlib.import_module("uvscope.analysis.smear")
    finally:
        sys.path.remove(path)
        for k in [k for k in sys.modules if k == "uvscope" or k.startswith("uvscope.")]:
            del sys.modules[k]
        sys.modules.update(ours)
    if not smear.__file__ or not smear.__file__.startswith(str(Path(path).resolve())):
        raise SystemExit(f"--base {path}: its uvscope was not imported ({smear.__file__})")
    return smear.SmearAnalyser()


def render(donor: str, n: int) -> list[Tile]:
    cam = SimCamera(donor, SEEDS.get(donor, 341))
    cx, cy = cam.world.smear_centre_mm()
    return [
        cam.tile(TileSpec(i, 0, i, cx + 0.25 * (i % 4), cy + 0.25 * (i // 4))) for i in range(n)
    ]


def run_round(pipe: TilePipeline, smear: Any, tiles: list[Tile]) -> list[SmearTile]:
    pipe.smear = smear
    out: list[SmearTile] = []
    for i in range(0, len(tiles), 4):
        out += [r.smear for r in pipe.analyse(tiles[i : i + 4]) if r.smear is not None]
    return out


def cpu_ms(analysers: list[Any], tiles: list[Tile], masks: list[Any]) -> list[float]:
    """CPU ms per tile of each analyser alone (best of 3 per tile, alternating)."""
    best = [0.0] * len(analysers)
    for tile, wbc in zip(tiles, masks, strict=True):
        times: list[list[float]] = [[] for _ in analysers]
        for _ in range(3):
            for j, a in enumerate(analysers):
                c0 = time.process_time()
                a.analyse(tile, wbc, None)
                times[j].append(time.process_time() - c0)
        for j in range(len(analysers)):
            best[j] += min(times[j])
    return [1e3 * b / len(tiles) for b in best]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def differences(old: list[Any], new: list[SmearTile]) -> list[str]:
    """Every field of every red-cell and platelet record that differs, by object id."""
    out: list[str] = []
    for a, b in zip(old, new, strict=True):
        if not _same(a.platelet_visible_fraction, b.platelet_visible_fraction):
            out.append(f"tile {b.index}: visible fraction")
        for kind, xs, ys in (("rbc", a.rbcs, b.rbcs), ("platelet", a.platelets, b.platelets)):
            ra = {next(iter(asdict(r).values())): asdict(r) for r in xs}
            rb = {next(iter(asdict(r).values())): asdict(r) for r in ys}
            out += [f"{kind} {k} only in base" for k in ra.keys() - rb.keys()]
            out += [f"{kind} {k} only in new" for k in rb.keys() - ra.keys()]
            for k in sorted(ra.keys() & rb.keys()):
                bad = [f for f in ra[k] if not _same(ra[k][f], rb[k][f])]
                if bad:
                    out.append(f"{kind} {k}: {', '.join(bad)}")
    return out


def cbc_json(tiles: list[Any]) -> str:
    """The cbc.json document of these tiles' records (this code's accumulator for both)."""
    acc = CbcAccumulator()
    for t in tiles:
        acc.add(t)
    return json.dumps(acc.document(None, None), sort_keys=True, default=str)


def side_by_side(donor: str, n: int, rounds: int, pipe: TilePipeline, base: Any) -> None:
    tiles = render(donor, n)
    ours = SmearAnalyser()
    pipe.analyse(tiles[:1])  # warm-up (first-call costs), not timed
    timers = {"base": StageTimer(), "new": StageTimer()}
    smears: dict[str, list[Any]] = {}
    for _ in range(rounds):
        for name, analyser in (("base", base), ("new", ours)):
            pipe.timer = timers[name]
            smears[name] = run_round(pipe, analyser, tiles)
    masks = [r.labels for r in pipe.analyse(tiles)]
    base_ms, new_ms = cpu_ms([base, ours], tiles, masks)
    line = [f"{donor}, {n} tiles x {rounds} rounds each:"]
    for name in ("base", "new"):
        pt = timers[name].per_tile()
        white = sum(pt.get(k, 0.0) for k in WHITE)
        red = pt.get(SMEAR, 0.0)
        line.append(
            f"  {name}: white-cell stages {white:.3f} s/tile, red cells and platelets "
            f"{red:.3f} s/tile, share {100 * red / max(white, 1e-9):.1f} %"
        )
    line.append(
        f"  red-cell step alone, CPU: base {base_ms:.1f} ms/tile, new {new_ms:.1f} ms/tile "
        f"({100 * (1 - new_ms / base_ms):.0f} % less)"
    )
    diff = differences(smears["base"], smears["new"])
    n_rbc = sum(len(s.rbcs) for s in smears["new"])
    n_plt = sum(len(s.platelets) for s in smears["new"])
    verdict = "identical" if not diff else f"{len(diff)} differing records"
    try:
        same_cbc = "identical" if cbc_json(smears["base"]) == cbc_json(smears["new"]) else "differs"
    except AttributeError as err:  # the base's tiles lack a field this accumulator reads
        same_cbc = f"not comparable ({err})"
    line.append(
        f"  records: {n_rbc} red-cell, {n_plt} platelet records; {verdict}; cbc.json {same_cbc}"
    )
    line += [f"    {d}" for d in diff[:20]]
    print("\n".join(line), flush=True)


def memory(tiles_n: int, donor: str) -> None:
    """Peak RSS after analysing ``tiles_n`` tiles with the red-cell step alone, records kept."""
    pipe = TilePipeline(load_models("default", None, "default", device="cpu"), AnalysisSettings())
    tiles = render(donor, 8)
    masks = [r.labels for r in pipe.analyse(tiles)]
    smear = SmearAnalyser()
    kept = []
    for i in range(tiles_n):
        kept.append(smear.analyse(tiles[i % 8], masks[i % 8], None))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    recs = sum(len(s.rbcs) + len(s.platelets) for s in kept)
    print(f"{tiles_n} tiles ({donor}): peak RSS {rss:.0f} MiB, {recs} records kept", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", help="a worktree of the base commit (its uvscope is timed too)")
    ap.add_argument("--donors", default="healthy,sickle,ttp-like")
    ap.add_argument("--tiles", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="pipeline rounds per code and donor")
    ap.add_argument("--memory", help="comma-separated tile counts: peak RSS of each")
    ap.add_argument("--one-memory", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    donor = args.donors.split(",")[0]
    if args.one_memory:
        memory(args.one_memory, donor)
        return
    if args.memory:
        for n in args.memory.split(","):
            cmd = [sys.executable, __file__, "--one-memory", n, "--donors", donor]
            subprocess.run(cmd, check=True)
        return
    if not args.base:
        raise SystemExit("--base PATH (a worktree of the base commit) is needed for the timing")
    base = base_analyser(args.base)
    pipe = TilePipeline(load_models("default", None, "default", device="cpu"), AnalysisSettings())
    for d in [d for d in args.donors.split(",") if d]:
        side_by_side(d, args.tiles, args.rounds, pipe, base)


if __name__ == "__main__":
    main()
