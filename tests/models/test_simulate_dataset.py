"""The models read what `uvscope simulate` writes: train and evaluate on a tiny export."""

import json

import pytest
from click.testing import CliRunner

from uvscope.cli import main
from uvscope.models.registry import read_card, resolve


def test_train_and_evaluate_on_uvscope_simulate_export(tmp_path):
    runner = CliRunner()
    data = tmp_path / "sim"
    res = runner.invoke(
        main,
        [
            "simulate",
            "--out",
            str(data),
            "--tiles",
            "1",
            "--donors",
            "healthy,neutropenia,sickle",
            "--size",
            "256x256",
            "--wavelengths",
            "260",
            "--wbc-fraction",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        main,
        [
            "train",
            "segment",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "w"),
            "--epochs",
            "1",
            "--steps",
            "1",
            "--device",
            "cpu",
            "--set",
            "base_width=4",
            "--set",
            "depth=2",
            "--set",
            "patch_size=64",
        ],
    )
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "w" / "segment.json").read_text())
    split = card["data"]["split_by_donor"]
    assert sorted(split["train"] + split["val"] + split["test"]) == [
        "healthy",
        "neutropenia",
        "sickle",
    ]
    res = runner.invoke(
        main,
        [
            "evaluate",
            "segment",
            "--data",
            str(data),
            "--weights",
            str(tmp_path / "w" / "segment.safetensors"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "cell_dice" in res.output
    small = ["--set", "base_width=4", "--set", "depth=2", "--set", "patch_size=64"]
    common = ["train", "segment", "--data", str(data), "--epochs", "1", "--steps", "1"]
    start = tmp_path / "w" / "segment.safetensors"
    res = runner.invoke(
        main, [*common, "--out", str(tmp_path / "ft"), "--init", str(start), "--lr", "1e-4", *small]
    )
    assert res.exit_code == 0, res.output
    ft = json.loads((tmp_path / "ft" / "segment.json").read_text())
    assert ft["init"]["sha256"] == card["sha256"]
    assert ft["training_seconds"] >= card["training_seconds"] + ft["fine_tune_seconds"] - 0.2
    again = tmp_path / "ft" / "segment.safetensors"
    res = runner.invoke(
        main, [*common, "--out", str(tmp_path / "ft3"), "--init", str(again), *small]
    )
    assert res.exit_code == 0, res.output
    chain = json.loads((tmp_path / "ft3" / "segment.json").read_text())["init"]
    assert chain["sha256"] == ft["sha256"] and chain["init"]["sha256"] == card["sha256"]
    res = runner.invoke(main, [*common, "--out", str(tmp_path / "ft2"), "--init", str(start)])
    assert res.exit_code == 2 and "same architecture" in res.output
    res = runner.invoke(
        main,
        [
            "train",
            "segment",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "w"),
            "--set",
            "nonsense=1",
        ],
    )
    assert res.exit_code == 2 and "unknown segment architecture fields" in res.output


@pytest.mark.slow
def test_classify_fine_tunes_on_crops_the_segmentation_cuts(tmp_path):
    """--crops segmented: the cells the shipped segmentation finds join training, validation
    and a test metric of their own; --init default starts from the shipped weights."""
    runner = CliRunner()
    data = tmp_path / "sim"
    res = runner.invoke(
        main,
        [
            "simulate", "--out", str(data), "--tiles", "3", "--donors",
            "healthy,neutropenia,lymphocytosis", "--size", "384x384", "--wavelengths", "260",
            "--wbc-fraction", "1",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = tmp_path / "w"
    res = runner.invoke(
        main,
        [
            "train", "classify", "--data", str(data), "--out", str(out), "--epochs", "1",
            "--device", "cpu", "--crops", "segmented", "--init", "default", "--lr", "1e-5",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    card = json.loads((out / "classify.json").read_text())
    seg = card["data"]["segmented_crops"]["n_cells"]
    assert seg["train"] >= 1 and seg["val"] >= 1
    assert card["data"]["n_cells"]["train"] > seg["train"]  # the truth-mask crops as well
    assert card["init"]["sha256"] == read_card(resolve("default", "classify"))["sha256"]
    assert "test_heldout_donors_segmented_crops" in card["metrics"]
