"""`uvscope analyze DIR [DIR ...]` on Dask: same results as one at a time, one model load per
worker, locked folders left alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.analysis.conftest import PX_UM, SHAPE
from tests.analysis.reanalyse_helpers import counting_loader
from tests.analysis.scanfolder_fixture import write_scan_folder
from tests.analysis.synth import fake_models, grid_specs, make_tile, random_slide
from uvscope.analysis.reanalyse import AnalyzeJob, run_here, run_on_dask
from uvscope.analysis.session import analyse_scan_folder
from uvscope.analysis.settings import AnalysisSettings

pytest.importorskip("distributed")


def _scan(root: Path, seed: int) -> Path:
    specs = grid_specs(1, 2, SHAPE, PX_UM, 0.3)
    cells = random_slide(
        10,
        (specs[0].x_mm * 1e3 - 15, specs[1].x_mm * 1e3 + 15),
        (specs[0].y_mm * 1e3 - 12, specs[0].y_mm * 1e3 + 12),
        seed=seed,
    )
    write_scan_folder(root, specs, [make_tile(s, cells, SHAPE, PX_UM) for s in specs])
    return root


def _outputs(scan: Path) -> dict[str, bytes]:
    a = scan / "analysis"
    return {n: (a / n).read_bytes() for n in ("cells.csv",)} | {"differential": _diff_bytes(a)}


def _diff_bytes(a: Path) -> bytes:
    import json

    doc = json.loads((a / "differential.json").read_text())
    doc.pop("created")
    return json.dumps(doc, sort_keys=True).encode()


@pytest.mark.slow
def test_dask_gives_the_one_at_a_time_results_with_one_model_load_per_worker(
    tmp_path: Path,
) -> None:
    settings = AnalysisSettings()
    scans = [_scan(tmp_path / "dask" / f"s{k}", seed=10 + k) for k in range(3)]
    ref = []
    for s in scans:
        copy = tmp_path / "ref" / s.name
        shutil.copytree(s, copy)
        analyse_scan_folder(copy, fake_models(), settings)
        ref.append(_outputs(copy))
    record = tmp_path / "loads.txt"
    jobs = [
        AnalyzeJob(str(s), settings, ("fake",), partial(counting_loader, str(record)))
        for s in scans
    ]
    seen: list[tuple[str, str, int, int]] = []
    results = run_on_dask(jobs, workers=2, progress=lambda *a: seen.append(a))
    assert [r.status for r in results] == ["done"] * 3
    assert [r.scan_dir for r in results] == [str(s) for s in scans]
    assert [_outputs(s) for s in scans] == ref  # identical to one-at-a-time runs
    workers = {r.worker for r in results}
    loads = record.read_text().split()
    assert len(loads) == len(workers) <= 2  # once per worker, not once per scan
    assert {(scan, done) for scan, what, done, _ in seen if what == "tiles"} >= {
        (str(s), 2) for s in scans
    }
    assert {what for *_, what, _d, _t in [(a, b, c, d) for a, b, c, d in seen]} >= {"gray"}


def test_a_locked_scan_is_left_alone_and_reported(tmp_path: Path) -> None:
    scan = _scan(tmp_path / "s", seed=3)
    analyse_scan_folder(scan, fake_models(), AnalysisSettings())
    before = (scan / "analysis" / "cells.csv").read_bytes()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from uvscope.io.lock import lock_folder; "
            f"l = lock_folder({str(scan)!r}, 'scan'); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        job = AnalyzeJob(str(scan), AnalysisSettings(), ("fake",), fake_models)
        (res,) = run_here([job])
        assert res.status == "locked" and "scan" in res.message
        assert (scan / "analysis" / "cells.csv").read_bytes() == before
        assert not (scan / "analysis.partial").exists()
    finally:
        holder.communicate("")


def test_cli_analyses_several_scans_and_prints_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvscope.analysis.models as models_mod
    from uvscope.cli import main

    monkeypatch.setattr(models_mod, "load_models", lambda *a, **k: fake_models())
    scans = [_scan(tmp_path / f"scan{k}", seed=20 + k) for k in range(2)]
    r = CliRunner().invoke(main, ["analyze", *map(str, scans), "--workers", "1", "--no-report"])
    assert r.exit_code == 0, r.output
    assert "uvscope analyze" in r.output and "scan0" in r.output and "scan1" in r.output
    for s in scans:
        assert (s / "analysis" / "cells.csv").exists()


def test_an_existing_scheduler_is_used_by_address(tmp_path: Path) -> None:
    from distributed import LocalCluster

    scan = _scan(tmp_path / "s", seed=4)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        job = AnalyzeJob(str(scan), AnalysisSettings(), ("fake",), fake_models)
        (res,) = run_on_dask([job], scheduler=cluster.scheduler_address)
        assert res.status == "done" and res.worker in {w.address for w in cluster.workers.values()}
    assert (scan / "analysis" / "cells.csv").exists()
