"""End to end on a saved scan folder: on-the-fly session, `analyze` re-run, outputs, report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import tifffile

from tests.analysis.conftest import PX_UM, SHAPE
from tests.analysis.scanfolder_fixture import write_scan_folder
from tests.analysis.synth import fake_models, grid_specs, make_tile, random_slide
from uvscope.acquisition.tiles import FocusVerdict
from uvscope.analysis.mosaic import LABEL_STRIDE
from uvscope.analysis.session import AnalysisSession, analyse_scan_folder
from uvscope.analysis.settings import AnalysisSettings
from uvscope.report.page import write_report


def _scan(tmp_path: Path):
    specs = grid_specs(2, 2, SHAPE, PX_UM, 0.3)
    xs = [s.x_mm * 1e3 for s in specs]
    ys = [s.y_mm * 1e3 for s in specs]
    cells = random_slide(30, (min(xs) - 20, max(xs) + 20), (min(ys) - 15, max(ys) + 15), 5)
    tiles = [make_tile(s, cells, SHAPE, PX_UM, nms=(260, 280)) for s in specs]
    root = tmp_path / "scan"
    write_scan_folder(root, specs, tiles)
    return root, specs, tiles


def _read_csv(p: Path) -> list[dict[str, str]]:
    with open(p, newline="") as fh:
        return list(csv.DictReader(fh))


def test_on_the_fly_and_analyze_give_the_same_results(
    tmp_path: Path, settings: AnalysisSettings
) -> None:
    root, specs, tiles = _scan(tmp_path)
    session = AnalysisSession(root, fake_models(), settings)  # plan read from the manifest
    for t in tiles:
        session.put(t)
    session.close()
    a = root / "analysis"
    first_cells = _read_csv(a / "cells.csv")
    first_diff = json.loads((a / "differential.json").read_text())["differential"]
    assert first_cells and first_diff["healthy"] == len(first_cells)
    for name in ("mosaic_gray", "mosaic_stained", "mosaic_labels", "mosaic_outlines"):
        assert (a / f"{name}.ome.tif").exists()
    for t in tiles:
        assert (a / "labels" / f"tile_{t.index:05d}.tif").exists()
        assert (a / "stained" / f"tile_{t.index:05d}.tif").exists()
    assert not (a / ".gray").exists()

    summary = analyse_scan_folder(root, fake_models(), settings, report=write_report)
    assert _read_csv(a / "cells.csv") == first_cells
    assert json.loads(json.dumps(summary["differential"])) == first_diff
    assert Path(summary["report"]).exists()


def test_label_mosaic_holds_each_counted_cell_once(
    tmp_path: Path, settings: AnalysisSettings
) -> None:
    root, _, _ = _scan(tmp_path)
    full_res = settings.replace(mosaic={**settings.mosaic.model_dump(), "pixel_size_um": PX_UM})
    analyse_scan_folder(root, fake_models(), full_res)
    a = root / "analysis"
    cells = _read_csv(a / "cells.csv")
    with tifffile.TiffFile(a / "mosaic_labels.ome.tif") as tif:
        labels = tif.series[0].asarray()
        assert len(tif.series[0].levels) >= 2  # pyramidal
        assert tif.pages[0].is_tiled and tif.pages[0].tilewidth == 256
        assert "PhysicalSizeX" in tif.ome_metadata
    ids = set(np.unique(labels)) - {0}
    assert ids == {int(c["tile"]) * LABEL_STRIDE + int(c["label"]) for c in cells}
    gray = tifffile.imread(a / "mosaic_gray.ome.tif")
    assert gray.dtype == np.float32 and 0.3 < gray.min() and gray.max() <= 1.01


def test_report_renders_differential_chart_mosaic_and_gallery(
    tmp_path: Path, settings: AnalysisSettings
) -> None:
    root, _, _ = _scan(tmp_path)
    analyse_scan_folder(root, fake_models(), settings)
    page = write_report(root).read_text()
    diff = json.loads((root / "analysis" / "differential.json").read_text())["differential"]
    assert "<svg" in page and page.count('class="ci"') == 5
    assert page.count("data:image/png;base64,") >= 1 + min(diff["healthy"], 1)
    for c in diff["classes"]:
        assert c["name"] in page
    assert "fake-threshold" in page  # model provenance
    # the manifest's status is a snapshot (the on-the-fly report is written mid-scan): the
    # printed report never repeats it; the provenance file beside it keeps the manifest
    assert '"status":' not in page and "running" not in page
    assert "Model card" not in page and (root / "analysis" / "report_provenance.html").exists()
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained


def test_out_of_focus_tiles_are_in_the_mosaic_but_not_in_the_count(
    tmp_path: Path, settings: AnalysisSettings
) -> None:
    sharp_root, _, _ = _scan(tmp_path / "sharp")
    analyse_scan_folder(sharp_root, fake_models(), settings)
    before = _read_csv(sharp_root / "analysis" / "cells.csv")
    flagged = 1
    assert any(int(c["tile"]) == flagged for c in before)  # the tile has cells to leave out

    specs = grid_specs(2, 2, SHAPE, PX_UM, 0.3)
    xs = [s.x_mm * 1e3 for s in specs]
    ys = [s.y_mm * 1e3 for s in specs]
    cells = random_slide(30, (min(xs) - 20, max(xs) + 20), (min(ys) - 15, max(ys) + 15), 5)
    tiles = [make_tile(s, cells, SHAPE, PX_UM, nms=(260, 280)) for s in specs]
    for t in tiles:
        t.focus = FocusVerdict(score=0.1, out_of_focus=t.index == flagged)
    root = tmp_path / "scan"
    write_scan_folder(root, specs, tiles)
    # the focus verdict is read from tiles.jsonl
    summary = analyse_scan_folder(root, fake_models(), settings, report=write_report)
    a = root / "analysis"
    after = _read_csv(a / "cells.csv")
    assert after == [c for c in before if int(c["tile"]) != flagged]
    doc = json.loads((a / "differential.json").read_text())
    assert doc["tiles"]["left_out_of_counting"] == [flagged]
    assert doc["differential"]["tiles_out_of_focus"] == 1
    assert doc["differential"]["healthy"] + doc["differential"]["dead"] == len(after)
    assert doc["tiles"]["analysed"] == 4 and str(flagged) in doc["mosaic"]["positions_px"]
    assert (
        f"<td>tiles left out of counting</td><td>1: {flagged}</td>"
        in Path(summary["report"]).read_text()
    )

    session = AnalysisSession(tmp_path / "scan", fake_models(), settings)
    for t in tiles:  # on the fly: the flag comes in Tile.focus
        session.put(t)
    session.close()
    assert _read_csv(a / "cells.csv") == after


def test_failed_reanalysis_leaves_the_previous_results_intact(
    tmp_path: Path, settings: AnalysisSettings, monkeypatch
) -> None:
    import pytest

    from uvscope.analysis import outputs as outputs_mod
    from uvscope.errors import StorageError

    root, _, _ = _scan(tmp_path)
    analyse_scan_folder(root, fake_models(), settings)
    a = root / "analysis"
    before = {p.relative_to(a): p.read_bytes() for p in a.rglob("*") if p.is_file()}

    def full_disk(self, *args, **kwargs):
        raise StorageError("no space left on device (simulated)")

    monkeypatch.setattr(outputs_mod.AnalysisOutputs, "write_mosaics", full_disk)
    with pytest.raises(StorageError, match="no space"):
        analyse_scan_folder(root, fake_models(), settings)
    after = {p.relative_to(a): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    assert after == before  # every file of the previous analysis, byte for byte
    monkeypatch.undo()
    analyse_scan_folder(root, fake_models(), settings)
    assert not (root / "analysis.partial").exists() and not (root / "analysis.old").exists()
    assert (a / "cells.csv").read_bytes() == before[Path("cells.csv")]


def test_a_kill_between_the_two_renames_of_the_swap_loses_nothing(
    tmp_path: Path, settings: AnalysisSettings, monkeypatch
) -> None:
    import pytest

    from uvscope.analysis import outputs as outputs_mod
    from uvscope.errors import StorageError

    root, _, _ = _scan(tmp_path)
    analyse_scan_folder(root, fake_models(), settings)
    before = (root / "analysis" / "cells.csv").read_bytes()
    (root / "analysis").rename(root / "analysis.old")  # the state after the first rename

    def fails(self, *args, **kwargs):
        raise StorageError("disk gone (simulated)")

    monkeypatch.setattr(outputs_mod.AnalysisOutputs, "write_mosaics", fails)
    with pytest.raises(StorageError):
        analyse_scan_folder(root, fake_models(), settings)
    # the next writer put the previous analysis back before starting its own
    assert (root / "analysis" / "cells.csv").read_bytes() == before
    assert not (root / "analysis.old").exists()
