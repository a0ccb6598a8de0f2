"""Damage harness: every file kind of a scan folder truncated, swapped, replaced with garbage
or deleted, then every reader run on it (``analyze``, ``analyze --skip-damaged``, ``report``,
``scan --resume``, classifier training from the reviewed scan).

Each case must either refuse, naming the damaged file (and changing nothing of the previous
results), or give a result equal to the undamaged scan's, with any tile it left out named.
The scan is small (6 tiles of 640 x 480 px on the simulated rig); readers run in this
process (models loaded once), ``report`` and ``scan --resume`` through click's runner.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from uvscope.analysis.reanalyse import AnalyzeJob, AnalyzeResult, default_loader, run_here
from uvscope.analysis.review import REVIEWED_FIELDS
from uvscope.analysis.settings import AnalysisSettings
from uvscope.cli import main
from uvscope.errors import UvscopeError
from uvscope.io.ome import read_ome_tiff
from uvscope.io.scanfolder import ScanFolder

RIG = """name = "small simulated rig"
[camera]
backend = "sim"
width_px = 640
height_px = 480
pixel_size_um = 0.16
"""
SCAN = """name = "d"
[region]
center_mm = [42.45, 31.74]
rows = 2
columns = 3
[[wavelengths]]
nm = 260
exposure_ms = 50.0
[focus]
mode = "fixed"
z_um = 5000.55
[background]
frames = 2
dark_frames = 2
[analysis]
enabled = true
report = false
"""
TILES = 6
ATTACKS = ("truncate", "swap", "garbage", "delete")
NAMES = ("default", None, "default", "cpu")  # segmenter, stainer (none: faster), classifier
SETTINGS = AnalysisSettings().replace(
    inference={**AnalysisSettings().inference.model_dump(), "device": "cpu"}
)


# ------------------------------------------------------------------ the scan and its readers
@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An analysed 6-tile scan with a reviewed cell, the same scan stored without raw frames
    (normalised tiles only, bit for bit the tiles ``read_tile`` derives) and the undamaged
    results of each."""
    root = tmp_path_factory.mktemp("damage")
    (root / "rig.toml").write_text(RIG)
    (root / "scan.toml").write_text(SCAN)
    raw = root / "raw-scan"
    args = ["scan", "--config", str(root / "scan.toml"), "--rig", str(root / "rig.toml")]
    r = CliRunner().invoke(main, [*args, "--out", str(raw), "--quiet", "--no-analysis"])
    assert r.exit_code == 0, r.output
    assert _analyze(raw).status == "done"
    norm = root / "norm-scan"
    shutil.copytree(raw, norm)
    _review(raw)
    folder = ScanFolder(norm)
    for i, rec in folder.tile_records().items():
        for nm in rec.wavelengths:
            image, meta = folder.read_tile(i, nm)
            folder.write_image(folder.tile_path(i, nm), image, meta)
            folder.raw_path(i, nm).unlink()
    manifest = folder.read_manifest()
    folder.update_manifest(config={**manifest["config"], "save_raw": False})
    assert _analyze(norm).status == "done"
    assert _results(norm) == _results(raw)  # the same tiles, the same analysis
    _review(norm)
    models = root / "models"
    shutil.copytree(Path(__file__).parents[2] / "uvscope" / "models" / "weights", models)
    return {"raw": raw, "norm": norm, "models": models}


def _analyze(scan: Path, skip: bool = False, replace: bool = False) -> AnalyzeResult:
    job = AnalyzeJob(
        str(scan),
        SETTINGS,
        NAMES,
        default_loader(*NAMES),
        skip_damaged=skip,
        replace=replace,
    )
    return run_here([job])[0]


def _review(scan: Path) -> None:
    """The reviewer moves the first cell to another class (reviewed_labels.csv)."""
    with open(scan / "analysis" / "cells.csv", newline="") as fh:
        cell = next(csv.DictReader(fh))
    new = "lymphocyte" if cell["cell_class"] != "lymphocyte" else "monocyte"
    with open(scan / "analysis" / "reviewed_labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REVIEWED_FIELDS)
        w.writerow(
            [cell["cell_id"], cell["tile"], cell["x_um"], cell["y_um"], cell["cell_class"], new]
        )


def _results(scan: Path) -> tuple[list[tuple[str, ...]], dict[str, int]]:
    """Cells (id, tile, class, dead, areas) and the differential's counts."""
    with open(scan / "analysis" / "cells.csv", newline="") as fh:
        cells = sorted(
            (c["cell_id"], c["tile"], c["cell_class"], c["dead"], c["cell_area_um2"])
            for c in csv.DictReader(fh)
        )
    doc = json.loads((scan / "analysis" / "differential.json").read_text())
    counts = {c["name"]: c["count"] for c in doc["differential"]["classes"]}
    return cells, {**counts, "dead": doc["differential"]["dead"]}


def _reviewed_tile(scan: Path) -> int:
    with open(scan / "analysis" / "reviewed_labels.csv", newline="") as fh:
        return int(next(csv.DictReader(fh))["tile"])


# ------------------------------------------------------------------ the attacks
def _attack(path: Path, other: Path, how: str, rng: random.Random) -> None:
    """Damage ``path``: cut it in half, put ``other``'s bytes there, random bytes, remove it."""
    if how == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "swap":
        path.write_bytes(other.read_bytes())
    elif how == "garbage":
        path.write_bytes(rng.randbytes(max(path.stat().st_size, 64)))
    else:
        path.unlink()


def _kinds(tile: int) -> dict[str, tuple[str, str, str]]:
    """File kind -> (which scan, the file, the file a swap puts there)."""
    other = (tile + 1) % TILES
    return {
        "raw tile": (
            "raw",
            f"raw/tile_{tile:05d}_260.ome.tif",
            f"raw/tile_{other:05d}_260.ome.tif",
        ),
        "normalised tile": (
            "norm",
            f"tiles/tile_{tile:05d}_260.ome.tif",
            f"tiles/tile_{other:05d}_260.ome.tif",
        ),
        "background": ("raw", "background/bg_260.ome.tif", "background/dark_260.ome.tif"),
        "dark": ("raw", "background/dark_260.ome.tif", "background/bg_260.ome.tif"),
        "journal": ("raw", "tiles.jsonl", "events.jsonl"),
        "manifest": ("raw", "manifest.json", "analysis/differential.json"),
        "cells.csv": ("raw", "analysis/cells.csv", "analysis/reviewed_labels.csv"),
        "differential.json": ("raw", "analysis/differential.json", "manifest.json"),
        "reviewed labels": ("raw", "analysis/reviewed_labels.csv", "analysis/cells.csv"),
    }


#: file kinds a tile's image is made from
TILE_FILES = ("raw tile", "normalised tile", "background", "dark")
#: file kinds only the analysis's readers read (``analyze`` writes them, never reads them)
ANALYSIS_FILES = ("cells.csv", "differential.json", "reviewed labels")


def _named(err: str, *files: str) -> bool:
    return any(Path(f).name in err for f in files)


def _previous_kept(scan: Path, before: dict[str, bytes]) -> None:
    """A refusal changed nothing of the previous results."""
    now = {
        str(p.relative_to(scan)): p.read_bytes()
        for p in sorted((scan / "analysis").glob("*"))
        if p.is_file()
    }
    assert now == before
    assert not (scan / "analysis.partial").exists()


def _snapshot(scan: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(scan)): p.read_bytes()
        for p in sorted((scan / "analysis").glob("*"))
        if p.is_file()
    }


# ------------------------------------------------------------------ the readers, checked
def _check_analyze(
    scan: Path, kind: str, files: tuple[str, str], reference: Path, skip: bool
) -> str:
    """``analyze``, then (``skip``) ``--skip-damaged``, then with ``--replace`` too."""
    before = _snapshot(scan)
    res = _analyze(scan)
    if res.status == "refused" and "reviewer's work" in res.message:
        _previous_kept(scan, before)  # a reviewed analysis is replaced only with --replace
        res = _analyze(scan, replace=True)
    if res.status == "done":  # only when the damaged file is one analyze does not read
        assert kind in ANALYSIS_FILES or kind == "journal", (kind, res.message)
        assert _results(scan) == _results(reference), kind
        return "same result"
    assert res.status == "refused", (kind, res.status, res.message)
    assert _named(res.message, *files), (kind, res.message)
    _previous_kept(scan, before)
    if not skip:
        return "refused"
    replaced = _analyze(scan, skip=True)
    if replaced.status == "refused" and "--replace" in replaced.message:
        _previous_kept(scan, before)  # fewer tiles than the kept results: refused first
        replaced = _analyze(scan, skip=True, replace=True)
    elif replaced.status != "done":  # nothing usable, or the folder itself is unreadable
        assert replaced.status == "refused" and _named(replaced.message, *files), replaced
        _previous_kept(scan, before)
        return "refused"
    assert replaced.status == "done" and replaced.skipped, replaced
    assert all(_named(why, *files) for why in replaced.skipped.values()), replaced.skipped
    gone = {k for k in replaced.skipped if k.isdigit()}
    cells, _ = _results(scan)
    want = [c for c in _results(reference)[0] if c[1] not in gone]
    assert cells == want, kind
    assert replaced.tiles_analysed == TILES - len(gone) and replaced.tiles_planned == TILES
    events = [e for e in ScanFolder(scan).read_events() if e["kind"] == "analysis-replaced"]
    assert events[-1]["previous_tiles"] == TILES and events[-1]["tiles"] == TILES - len(gone)
    return f"refused; --skip-damaged --replace: {TILES - len(gone)} of {TILES} tiles"


def _check_report(scan: Path, kind: str, files: tuple[str, str]) -> str:
    r = CliRunner().invoke(main, ["report", str(scan), "--out", str(scan / "r.html")])
    assert "Traceback" not in r.output
    if r.exit_code == 0:
        page = (scan / "r.html").read_text()
        if kind == "reviewed labels":  # deleted: a scan never reviewed, said so
            assert "after review" not in page
        else:
            assert kind not in ANALYSIS_FILES, (kind, r.output)
        if kind in TILE_FILES:  # the gallery's cell lives in the damaged tile: named
            assert "not shown" in page and _named(page, *files), kind
        return "report written"
    assert r.exit_code == 2 and _named(r.output, *files), (kind, r.output)
    assert not (scan / "r.html").exists()
    return "refused"


def _check_resume(scan: Path, kind: str, how: str, files: tuple[str, str]) -> str:
    r = CliRunner().invoke(main, ["scan", "--resume", str(scan), "--no-analysis", "--quiet"])
    assert "Traceback" not in r.output
    if r.exit_code != 0:
        assert r.exit_code == 2 and _named(r.output, *files), (kind, r.output)
        return "refused"
    good, bad = ScanFolder(scan).verify_tiles()
    assert sorted(good) == list(range(TILES)) and not bad, (kind, bad)
    retaken = [e for e in ScanFolder(scan).read_events() if e["kind"].startswith("damaged")]
    if kind not in ANALYSIS_FILES and not (kind == "journal" and how == "swap"):
        assert retaken and all(_named(e["message"], *files) for e in retaken), (kind, retaken)
    return f"resumed, {len(retaken)} retaken by name"


def _check_train(scan: Path, kind: str, files: tuple[str, str], reference: Path) -> str:
    from uvscope.analysis.trainset import reviewed_crops

    try:
        got = reviewed_crops([scan], 48, 0.32)
    except UvscopeError as err:
        assert _named(str(err), *files) or kind == "reviewed labels", (kind, err)
        return "refused"
    want = reviewed_crops([reference], 48, 0.32)
    np.testing.assert_array_equal(got.x, want.x)
    assert list(got.label) == list(want.label) and len(got.label) == 1
    return "same crops"


# ------------------------------------------------------------------ the harness
def _fresh(base: dict[str, Path], which: str, into: Path) -> Path:
    shutil.copytree(base[which], into)
    return into


def _readers(kind: str, how: str) -> list[str]:
    """The readers of a damaged file: all of them, except that ``analyze`` (which writes
    the analysis's files, never reads them) runs once per analysis file kind, and resume
    (which never reads them) not at all."""
    out = ["report", "train"]
    if kind not in ANALYSIS_FILES or how == "garbage":
        out.append("analyze")
    if kind not in ANALYSIS_FILES:
        out.append("resume")
    return out


def _read(name: str, scan: Path, kind: str, how: str, files: tuple[str, str], ref: Path) -> str:
    if name == "report":
        return _check_report(scan, kind, files)
    if name == "train":
        return _check_train(scan, kind, files, ref)
    if name == "analyze":  # --skip-damaged for two attacks a kind (each a full analysis)
        return _check_analyze(scan, kind, files, ref, how in ("truncate", "swap"))
    return _check_resume(scan, kind, how, files)


def _damage(scan: Path, rel: str, other_rel: str, how: str, rng: random.Random) -> None:
    if rel == "tiles.jsonl" and how == "swap":  # a journal's lines swapped: same records
        lines = (scan / rel).read_text().splitlines(keepends=True)
        (scan / rel).write_text("".join(reversed(lines)))
    else:
        _attack(scan / rel, scan / other_rel, how, rng)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_reader_refuses_damage_by_name_or_gives_the_undamaged_result(
    base: dict[str, Path], tmp_path: Path
) -> None:
    rng = random.Random(24)
    tile = _reviewed_tile(base["raw"])  # damage the tile a reviewed cell lives in
    log: list[str] = []
    for kind, (which, rel, other_rel) in _kinds(tile).items():
        for how in ATTACKS:
            for name in _readers(kind, how):
                scan = _fresh(base, which, tmp_path / f"{len(log)}")
                _damage(scan, rel, other_rel, how, rng)
                outcome = _read(name, scan, kind, how, (rel, other_rel), base[which])
                log.append(f"{kind} {how} / {name}: {outcome}")
                shutil.rmtree(scan)
    print("\n".join(log))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_damaged_model_card_is_refused_by_name(base: dict[str, Path], tmp_path: Path) -> None:
    rng = random.Random(6)
    for how in ATTACKS:
        models = tmp_path / how
        shutil.copytree(base["models"], models)
        card, other = models / "classify.json", models / "segment.json"
        _attack(card, other, how, rng)
        scan = _fresh(base, "raw", tmp_path / f"scan-{how}")
        before = _snapshot(scan)
        args = ["analyze", str(scan), "--models", str(models), "--no-report", "--device", "cpu"]
        r = CliRunner().invoke(main, [*args, "--replace"])  # the scan holds a review
        assert "Traceback" not in r.output
        assert r.exit_code != 0 and "classify" in r.output, (how, r.output)
        _previous_kept(scan, before)


def test_a_tile_with_another_tiles_file_is_named(base: dict[str, Path], tmp_path: Path) -> None:
    """The issue's attack: tile 1's frame copied over tile 0's; its own metadata says so."""
    scan = _fresh(base, "raw", tmp_path / "s")
    shutil.copy(scan / "raw/tile_00001_260.ome.tif", scan / "raw/tile_00000_260.ome.tif")
    good, bad = ScanFolder(scan).verify_tiles()
    assert sorted(good) == [1, 2, 3, 4, 5] and "'tile 1 260 nm'" in bad[0]
    meta = read_ome_tiff(scan / "raw/tile_00000_260.ome.tif")[1]
    assert meta.name == "tile 1 260 nm"  # what the check read, not what the path says
    assert os.path.exists(scan / "analysis" / "cells.csv")
