from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from uvscope.cli import main
from uvscope.errors import ModelError
from uvscope.models.userdata import class_index, load_crop_folder

BCCD = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bccd-wbc-crops",
            Path(__file__).resolve().parents[2]
            / ".."
            / ".."
            / "shared"
            / "data"
            / "bccd-wbc-crops",
        )
        if p.is_dir()
    ),
    None,
)


def _folder(root: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = (rng.random((20, 24, 3)) * 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


def test_class_folder_names():
    assert (
        class_index("Neutrophil") == 0
        and class_index("monocytes") == 4
        and class_index("Dead") == -1
    )
    assert class_index("platelet") is None


def test_load_crop_folder_resizes_and_labels(tmp_path):
    root = _folder(tmp_path / "crops", {"Neutrophil": 3, "Basophil": 2, "dead": 1})
    cs = load_crop_folder(root, 16)
    assert cs.x.shape == (6, 3, 16, 16) and cs.x.dtype == np.float32 and cs.x.max() <= 1
    assert sorted(cs.label.tolist()) == [-1, 0, 0, 0, 2, 2] and cs.dead.sum() == 1


def test_unknown_class_folder_is_a_clear_error(tmp_path):
    root = _folder(tmp_path / "crops", {"platelets": 1})
    with pytest.raises(ModelError, match="not a class"):
        load_crop_folder(root, 16)


def test_cli_train_and_evaluate_on_own_crop_folder(tmp_path):
    root = _folder(tmp_path / "crops", {"neutrophil": 6, "lymphocyte": 6, "dead": 5})
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "train",
            "classify",
            "--data",
            str(root),
            "--out",
            str(tmp_path / "w"),
            "--epochs",
            "1",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "w" / "classify.safetensors").exists() and (
        tmp_path / "w" / "classify.json"
    ).exists()
    res = runner.invoke(
        main,
        [
            "evaluate",
            "classify",
            "--data",
            str(root),
            "--weights",
            str(tmp_path / "w" / "classify.safetensors"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "five_part_accuracy" in res.output and "neutrophil" in res.output
    res = runner.invoke(
        main,
        [
            "evaluate",
            "classify",
            "--data",
            str(root),
            "--weights",
            str(tmp_path / "nope.safetensors"),
        ],
    )
    assert res.exit_code == 2 and "uvscope train" in res.output


@pytest.mark.skipif(
    BCCD is None, reason="../shared/data/bccd-wbc-crops is absent (only on the development machine)"
)
def test_bccd_crops_load():
    assert BCCD is not None
    cs = load_crop_folder(BCCD, 32)
    assert len(cs.x) == 351
    assert np.bincount(cs.label, minlength=5).tolist() == [207, 88, 3, 33, 20]
