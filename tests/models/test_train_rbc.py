"""`uvscope train rbc` on a lab's own red-cell crops: the WBC classifier's own-data rules.

The crops are drawn here (discs and long ellipses of optical density, one plane each: the
loader finds each cell's mask itself), so the rules are checked without the simulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from uvscope.cli import main
from uvscope.errors import ModelError
from uvscope.models.rbc_crops import load_rbc_crops, rbc_class

SHAPES = {"normal": (11.0, 11.0), "sickle": (18.0, 3.5), "elliptocytes": (13.0, 8.0)}


def _crop(rng: np.random.Generator, a_px: float, b_px: float, size: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - size / 2 + rng.uniform(-1, 1, 2)[:, None, None]
    t = rng.uniform(0, np.pi)
    u, v = xx * np.cos(t) + yy * np.sin(t), -xx * np.sin(t) + yy * np.cos(t)
    inside = (u / a_px) ** 2 + (v / b_px) ** 2 <= 1.0
    od = np.where(inside, 0.2, 0.0) + rng.normal(0, 0.005, inside.shape)
    return od.astype(np.float32)


def _folder(root: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            tifffile.imwrite(root / name / f"{name}{i}.tif", _crop(rng, *SHAPES[name]))
    return root


def test_folder_names_map_to_the_red_cell_classes() -> None:
    assert rbc_class("Sickle") == "sickle" and rbc_class("target_cells") == "target"
    assert rbc_class("elliptocytes") == "elliptocyte" and rbc_class("blast") is None


def test_a_crop_without_a_mask_gets_the_cell_under_its_centre(tmp_path: Path) -> None:
    data = load_rbc_crops(_folder(tmp_path, {"sickle": 2}), 40, 0.32)
    assert data.x.shape == (2, 2, 40, 40)
    mask = data.x[0, 1]
    assert mask[20, 20] == 1 and mask[0, 0] == 0
    assert 60 < mask.sum() < 260  # a 36 x 7 px ellipse, cut to the crop


def test_a_class_with_too_few_crops_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    data = _folder(tmp_path / "few", {"normal": 20, "sickle": 4})
    out = tmp_path / "w"
    res = CliRunner().invoke(
        main, ["train", "rbc", "--data", str(data), "--out", str(out), "--epochs", "1"]
    )
    assert res.exit_code == 2, res.output
    assert "too few training examples of sickle (" in res.output
    assert not out.exists()


def test_own_crops_train_and_an_absent_class_is_reported(tmp_path: Path) -> None:
    data = _folder(tmp_path / "ok", {"normal": 20, "sickle": 20, "elliptocytes": 15})
    out = tmp_path / "w"
    res = CliRunner().invoke(
        main, ["train", "rbc", "--data", str(data), "--out", str(out), "--epochs", "3"]
    )
    assert res.exit_code == 0, res.output
    assert "no training examples of spherocyte, schistocyte, target" in res.output
    card = json.loads((out / "rbc.json").read_text())
    assert card["architecture"]["classes"] == ["normal", "sickle", "elliptocyte"]
    assert card["data"]["class_counts_train"]["sickle"] == 16  # every 5th crop validates
    from uvscope.models.registry import load_model

    net, cfg, _ = load_model(out / "rbc.safetensors", "rbc")
    assert cfg.classes == ("normal", "sickle", "elliptocyte")


def test_a_folder_that_is_no_class_or_no_crop_is_named(tmp_path: Path) -> None:
    bad = _folder(tmp_path / "bad", {"normal": 2})
    (bad / "blasts").mkdir()
    with pytest.raises(ModelError, match="'blasts' .* is not a red-cell class"):
        load_rbc_crops(bad, 40, 0.32)
    junk = _folder(tmp_path / "junk", {"normal": 1})
    (junk / "normal" / "x.tif").write_bytes(b"not a tiff")
    with pytest.raises(ModelError, match="x.tif cannot be read"):
        load_rbc_crops(junk, 40, 0.32)


def test_the_prevalence_prior_keeps_a_doubtful_cell_normal() -> None:
    """Training draws classes equally often; on a smear most cells are normal, so the class is
    chosen with half the log-prevalence added (normal counted as kept / normal_share)."""
    from uvscope.models.rbc_net import choose
    from uvscope.models.train_rbc import prevalence_bias

    bias = prevalence_bias({"normal": 150, "sickle": 10}, ("normal", "sickle"), 0.15)
    assert bias == pytest.approx((0.5 * np.log(1000 / 1010), 0.5 * np.log(10 / 1010)), abs=1e-4)
    p = np.array([[0.4, 0.6], [0.02, 0.98]])
    assert choose(p).tolist() == [1, 1]
    assert choose(p, bias).tolist() == [0, 1]  # a clear sickle cell stays one
