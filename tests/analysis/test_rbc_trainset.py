"""The simulated red-cell export and `uvscope train rbc` on it: crops cut as the analysis cuts
them, labelled by the simulator's truth, trained in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from uvscope.analysis.rbc_trainset import export
from uvscope.models.train_rbc import run_rbc_training


@pytest.fixture(scope="module")
def sickle_crops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rbc")
    export(out, ("sickle",), (1, 2), tiles=2, normal_share=0.5, log=lambda _s: None)
    return out


def test_the_export_holds_whole_cells_labelled_by_the_truth(sickle_crops: Path) -> None:
    sickle = sorted((sickle_crops / "sickle").glob("*.tif"))
    normal = sorted((sickle_crops / "normal").glob("*.tif"))
    assert len(sickle) >= 12 and len(normal) >= 12
    x = tifffile.imread(sickle[0])
    assert x.shape == (2, 40, 40) and x.dtype == np.float32
    mask = x[1] > 0
    assert mask[20, 20] or mask[19:22, 19:22].any()  # centred on its cell
    assert 0.05 < float(x[0][mask].mean()) < 0.5  # optical density, not scaled
    # a sickle cell is long: its mask spans more than 2.5 x its width
    rr, cc = np.nonzero(mask)
    cov = np.cov(np.stack([rr, cc]).astype(float))
    ev = np.linalg.eigvalsh(cov)
    assert np.sqrt(ev[1] / ev[0]) > 2.5
    groups = (sickle_crops / "groups.csv").read_text().splitlines()
    assert groups[0] == "name,group" and {g.split(",")[1] for g in groups[1:]} == {
        "sickle-s1",
        "sickle-s2",
    }


@pytest.mark.slow  # about 10 s of CPU, 25 s on a loaded 2-core machine
def test_training_on_a_tiny_simulated_set_tells_sickle_cells_apart(
    sickle_crops: Path, tmp_path: Path
) -> None:
    card = run_rbc_training(
        sickle_crops, tmp_path, epochs=4, seed=0, folds=2, fold=1, log=lambda _s: None
    )
    assert card["architecture"]["classes"] == ["normal", "sickle"]
    assert card["data"]["validation_groups"] == ["sickle-s2"]  # a whole slide held out
    val = card["validation"]
    assert val["per_class_recall"]["sickle"] >= 0.8, val
    assert val["balanced_accuracy"] >= 0.85, val
    saved = json.loads((tmp_path / "rbc.json").read_text())
    assert saved["sha256"] == card["sha256"] and saved["input"] == "od-crop"


@pytest.fixture(scope="module")
def reviewed_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A saved scan of two sickle-donor tiles, its whole red cells as the analysis found them."""
    from tests.analysis.scanfolder_fixture import write_scan_folder
    from uvscope.acquisition.tiles import TileSpec
    from uvscope.analysis.evaluate import SimCamera
    from uvscope.analysis.smear import SmearAnalyser

    cam = SimCamera("sickle", 21, shape=(520, 696))
    cx, cy = cam.world.smear_centre_mm()
    specs = [TileSpec(i, 0, i, cx + i * 696 * cam.px * 1.1e-3, cy) for i in range(2)]
    tiles = [cam.tile(s) for s in specs]
    root = tmp_path_factory.mktemp("scan") / "slide-7"
    write_scan_folder(root, specs, tiles)
    an = SmearAnalyser()
    whole = [r for t in tiles for r in an.analyse(t, None, None).counted_rbcs if r.morph]
    return root, whole


def _review(root: Path, rows: list[tuple[object, str]]) -> None:
    from uvscope.analysis.rbc_review import SmearObject, save_reviewed_rbc

    objs = [
        (SmearObject(r.rbc_id, r.tile, r.x_um, r.y_um, r.morph, 8.0, 1.0, ""), cls)
        for r, cls in rows
    ]
    save_reviewed_rbc(root, objs)


def test_reviewed_red_cells_of_a_scan_are_cut_again_with_the_reviewers_class(
    reviewed_scan: tuple[Path, list],
) -> None:
    from uvscope.analysis.rbc_trainset import reviewed_rbc_crops
    from uvscope.errors import ModelError

    root, whole = reviewed_scan
    sickle = [r for r in whole if r.morph == "sickle"][:3]
    normal = [r for r in whole if r.morph == "normal"][:4]
    _review(
        root,
        [(r, "sickle") for r in sickle]
        + [(normal[0], "target"), (normal[1], "not_red_cell"), (normal[2], "platelet")]
        + [(normal[3], "normal")],
    )
    data = reviewed_rbc_crops([root], 40, 0.32)
    assert sorted(data.counts().items()) == sorted(
        {"normal": 1, "sickle": 3, "target": 1, "spherocyte": 0, "elliptocyte": 0,
         "schistocyte": 0}.items()
    )  # fmt: skip
    assert data.group == ["slide-7"] * 5 and data.x.shape == (5, 2, 40, 40)
    i = data.names.index(f"slide-7/{normal[3].rbc_id}")
    mask = data.x[i, 1] > 0
    assert mask[18:23, 18:23].any() and mask.sum() * 0.32**2 == pytest.approx(
        normal[3].area_um2, rel=0.02
    )  # the analysis's own piece (a whole normal cell fits the 12.8 um crop), centred
    # a reviewed cell the analysis no longer finds is named, never dropped in silence
    moved = type(normal[3])(**{**normal[3].__dict__, "x_um": normal[3].x_um + 30.0})
    _review(root, [(moved, "normal")])
    with pytest.raises(ModelError, match="is not found again as a whole cell"):
        reviewed_rbc_crops([root], 40, 0.32)


def test_training_on_reviewed_scans_follows_the_own_data_rules(
    reviewed_scan: tuple[Path, list], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from uvscope.cli import main

    root, whole = reviewed_scan
    _review(root, [(r, "target") for r in whole[:3]] + [(r, r.morph) for r in whole[3:30]])
    res = CliRunner().invoke(
        main, ["train", "rbc", "--data", str(root), "--out", str(tmp_path / "w"), "--epochs", "1"]
    )
    assert res.exit_code == 2, res.output
    assert "too few training examples of target (" in res.output
    assert not (tmp_path / "w").exists()
