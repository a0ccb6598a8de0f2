"""Own data that is probably wrong is refused or named: swapped mask codes, a pixel size the
cells' size contradicts, images a classifier cannot use, numbers no training can use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.conftest import SHARED_DATA
from tests.models.test_owndata import make_class_mask_dir
from uvscope.cli import main
from uvscope.errors import ModelError
from uvscope.models.arch import ClassifyConfig
from uvscope.models.maskcheck import cell_size_problem
from uvscope.models.owndata import open_own_data
from uvscope.models.pipeline import OwnOptions, _with_card_defaults
from uvscope.models.train_own import own_crops_named

ZHENG = SHARED_DATA / "zheng-wbc-d1"


def _swap_codes(masks: Path) -> None:
    for f in masks.glob("*.png"):
        m = np.asarray(Image.open(f))
        out = m.copy()
        out[m == 255], out[m == 128] = 128, 255
        Image.fromarray(out).save(f)


def test_swapped_mask_codes_are_refused_naming_the_fix(tmp_path: Path) -> None:
    root = make_class_mask_dir(tmp_path / "d")
    open_own_data(root)  # as drawn: accepted
    _swap_codes(root / "masks")
    with pytest.raises(ModelError, match="look swapped") as err:
        open_own_data(root)
    assert str(root / "masks") in str(err.value) and "255" in str(err.value)


def test_swapped_cells_and_nuclei_folders_are_refused(tmp_path: Path) -> None:
    root = make_class_mask_dir(tmp_path / "d")
    (root / "cells").mkdir()
    (root / "nuclei").mkdir()
    for f in (root / "masks").glob("*.png"):
        m = np.asarray(Image.open(f))
        Image.fromarray(((m > 0) * 255).astype(np.uint8)).save(root / "nuclei" / f.name)
        Image.fromarray(((m == 255) * 255).astype(np.uint8)).save(root / "cells" / f.name)
    shutil.rmtree(root / "masks")
    with pytest.raises(ModelError, match="nuclei/ covers .* cells/"):
        open_own_data(root)


def test_real_masks_pass_and_their_swapped_copy_is_refused(tmp_path: Path) -> None:
    if not ZHENG.is_dir():
        pytest.skip(f"real data not here: {ZHENG} (a checkout without ../shared/data)")
    root = tmp_path / "z"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for f in sorted((ZHENG / "masks").glob("*.png"))[:40]:
        shutil.copy(ZHENG / "images" / f.name, root / "images" / f.name)
        shutil.copy(f, root / "masks" / f.name)
    ds = open_own_data(root, pixel_size_um=0.157)
    assert 9.0 < (ds.median_cell_diameter_um or 0) < 15.0  # white cells at the README's size
    assert cell_size_problem(ds.median_cell_diameter_um, 0.157) is None
    doubled = open_own_data(root, pixel_size_um=0.314)
    problem = cell_size_problem(doubled.median_cell_diameter_um, 0.314, ds.median_cell_diameter_um)
    assert problem is not None and "0.157" in problem
    _swap_codes(root / "masks")
    with pytest.raises(ModelError, match="look swapped"):
        open_own_data(root, pixel_size_um=0.157)


def test_cell_size_against_the_card_and_against_white_cells() -> None:
    assert cell_size_problem(12.0, 0.16, 12.5) is None
    assert cell_size_problem(8.0, 0.16, 12.0) is None  # a lymphocyte-rich set: same scale
    twice = cell_size_problem(25.0, 0.32, 12.5)
    assert twice is not None and "0.16 um/px would match" in twice
    assert cell_size_problem(25.0, 0.32) is not None  # no card value: white cells' size
    assert cell_size_problem(2.0, 0.04) is not None
    assert cell_size_problem(None, 0.16) is None


def test_images_a_classifier_cannot_use_are_named(tmp_path: Path) -> None:
    root = make_class_mask_dir(tmp_path / "d")
    lines = (root / "classes.csv").read_text().splitlines()
    (root / "classes.csv").write_text("\n".join(line for line in lines if "im01" not in line))
    Image.fromarray(np.zeros((37, 53), np.uint8)).save(root / "masks" / "im03.png")
    ds = open_own_data(root)
    crops, skipped = own_crops_named(ds, None, ClassifyConfig(width=4, crop_size=32), "composite")
    assert skipped == {
        "im01": "no row in classes.csv",
        "im03": "no labelled cell in the mask at the model's pixel size",
    }
    assert len(crops.x) == 4


def test_evaluate_on_the_training_folder_takes_the_cards_pixel_size(tmp_path: Path) -> None:
    root = make_class_mask_dir(tmp_path / "d", toml=None)
    card = {"data": {"path": str(root), "pixel_size_um": 0.23, "modality": "rgb-stained"}}
    opt = _with_card_defaults(OwnOptions(), card, root)
    assert (opt.pixel_size_um, opt.modality) == (0.23, "rgb-stained")
    assert _with_card_defaults(OwnOptions(0.5), card, root).pixel_size_um == 0.5  # given wins
    other = make_class_mask_dir(tmp_path / "e", toml=None)
    assert _with_card_defaults(OwnOptions(), card, other).pixel_size_um is None  # not its data
    (root / "dataset.toml").write_text("pixel_size_um = 0.3\n")
    assert _with_card_defaults(OwnOptions(), card, root).pixel_size_um is None  # the toml's


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--epochs", "0"], "--epochs 0"),
        (["--epochs", "-3"], "--epochs -3"),
        (["--lr", "-1"], "--lr -1"),
        (["--lr", "nan"], "--lr nan"),
        (["--lr", "0"], "--lr 0"),
        (["--steps", "0"], "--steps 0"),
        (["--seed", "-1"], "--seed -1"),
        (["--nucleus-weight", "inf"], "--nucleus-weight inf"),
        (["--folds", "1"], "--folds 1"),
        (["--fold", "5"], "--fold 5"),
        (["--pixel-size-um", "-0.2"], "--pixel-size-um -0.2"),
    ],
)
def test_numbers_no_training_can_use_are_refused_before_anything_is_written(
    tmp_path: Path, args: list[str], expect: str
) -> None:
    root = make_class_mask_dir(tmp_path / "d")
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main, ["train", "segment", "--data", str(root), "--out", str(out), *args]
    )
    assert r.exit_code == 2, r.output
    assert expect in r.output and "Traceback" not in r.output and "unexpected" not in r.output
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_train_says_this_runs_time_and_the_card_keeps_both(tmp_path: Path) -> None:
    """A fine-tune from weights whose card claims 5000 s of training: the line says this
    run's seconds, the card both."""
    import torch

    from uvscope.models.arch import SegConfig
    from uvscope.models.registry import build_network, save_model

    torch.set_num_threads(1)
    cfg = SegConfig(base_width=4, depth=2, patch_size=32, pixel_size_um=0.32)
    start = tmp_path / "start" / "segment.safetensors"
    start.parent.mkdir()
    save_model(build_network("segment", cfg), "segment", cfg, start, {"training_seconds": 5000.0})
    root = make_class_mask_dir(tmp_path / "d", n=6)
    out = tmp_path / "out"
    args = ["train", "segment", "--data", str(root), "--out", str(out), "--epochs", "1"]
    args += ["--steps", "1", "--folds", "3", "--init", str(start), "--device", "cpu"]
    args += ["--set", "base_width=4", "--set", "depth=2", "--set", "patch_size=32"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    card = json.loads((out / "segment.json").read_text())
    line = next(x for x in r.output.splitlines() if x.startswith("wrote "))
    assert f"in {card['wall_seconds_this_run']:.0f} s" in line
    assert card["training_seconds"] >= 5000 and "5" in line.split("included:")[1]


def test_no_red_cell_negatives_is_a_warning() -> None:
    from uvscope.models.patches import TileArrays
    from uvscope.models.train_segment import find_negatives

    blank = np.ones((96, 96), np.float32)  # clear glass: no red cell anywhere
    tiles = [TileArrays(blank, blank * 0, blank * 0, None, np.zeros((0, 2)), "g")]
    lines: list[str] = []
    assert find_negatives(tiles, 64, lines.append) == 0
    assert lines[-1].startswith("warning:") and "1 training tiles" in lines[-1]


GARBAGE = bytes(range(128, 256)) * 16


@pytest.mark.parametrize("name", ["classes.csv", "groups.csv", "dataset.toml"])
def test_a_binary_side_file_is_named_not_a_crash(tmp_path: Path, name: str) -> None:
    root = make_class_mask_dir(tmp_path / "d")
    (root / name).write_bytes(GARBAGE)
    cmd = ["train", "classify", "--data", str(root), "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(main, [*cmd, "--pixel-size-um", "0.23"])
    assert r.exit_code == 2, r.output
    assert f"{name} is not UTF-8" in r.output and "unexpected" not in r.output


def test_a_crop_that_is_no_image_is_named(tmp_path: Path) -> None:
    for cls in ("neutrophil", "lymphocyte"):
        (tmp_path / "crops" / cls).mkdir(parents=True)
        rgb = np.full((40, 40, 3), 200, np.uint8)
        Image.fromarray(rgb).save(tmp_path / "crops" / cls / "a.png")
    (tmp_path / "crops" / "lymphocyte" / "b.png").write_bytes(GARBAGE)
    cmd = ["train", "classify", "--data", str(tmp_path / "crops"), "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(main, cmd)
    assert r.exit_code == 2, r.output
    assert "b.png cannot be read as an image" in " ".join(r.output.split())


def test_a_binary_model_card_is_named(tmp_path: Path) -> None:
    from uvscope.models.registry import read_card

    (tmp_path / "segment.safetensors").write_bytes(b"x")
    (tmp_path / "segment.json").write_bytes(GARBAGE)
    with pytest.raises(ModelError, match="segment.json is not valid JSON"):
        read_card(tmp_path / "segment.safetensors")
