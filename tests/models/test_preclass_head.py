"""The class head learns the pre-classes its training data hold: the five parts always, each
pre-class with enough examples, a pre-class with too few refused by name (never dropped in
silence); weights from before the pre-classes still load as a five-part head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from uvscope.classes import CLASSES
from uvscope.cli import main
from uvscope.errors import ModelError
from uvscope.models.arch import CLASS_NAMES, ClassifyConfig, config_from_dict
from uvscope.models.classifiers import output_names, widen
from uvscope.models.train_classify import MIN_PRECLASS_EXAMPLES, fit_head


def _folder(root: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = (rng.random((20, 24, 3)) * 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


def _labels(counts: dict[str, int]) -> np.ndarray:
    return np.array([CLASS_NAMES.index(k) for k, n in counts.items() for _ in range(n)] + [-1])


def test_the_head_holds_the_five_parts_and_the_pre_classes_the_data_teach() -> None:
    cfg = fit_head(
        ClassifyConfig(), _labels({"neutrophil": 20, "blast": 12, "nrbc": 10}), log=lambda s: None
    )
    assert cfg.classes == (*CLASSES, "blast", "nrbc")
    assert output_names(cfg.classes) == CLASS_NAMES  # not a prefix: widened to every class
    p = np.full((2, 7), 1 / 7, np.float32)
    wide = widen(p, cfg.classes)
    assert wide.shape == (2, len(CLASS_NAMES)) and wide[:, CLASS_NAMES.index("blast")].all()
    assert wide[:, CLASS_NAMES.index("band_neutrophil")].sum() == 0


def test_a_pre_class_with_too_few_examples_is_refused_by_name() -> None:
    few = MIN_PRECLASS_EXAMPLES - 7
    with pytest.raises(ModelError, match=rf"blast \({few}\).*at least {MIN_PRECLASS_EXAMPLES}"):
        fit_head(ClassifyConfig(), _labels({"neutrophil": 30, "blast": few}))


def test_a_thin_five_part_class_is_reported() -> None:
    said: list[str] = []
    cfg = fit_head(ClassifyConfig(), _labels({"neutrophil": 30, "basophil": 2}), log=said.append)
    assert cfg.classes == CLASSES and any("only 2 training examples of basophil" in s for s in said)


def test_a_card_from_before_the_pre_classes_is_a_five_part_head() -> None:
    assert config_from_dict("classify", {"width": 16}).classes == CLASSES
    with pytest.raises(ModelError, match="five parts followed by"):
        ClassifyConfig(classes=("neutrophil", "blast"))


def test_own_crop_folder_with_pre_classes_trains_and_too_few_are_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = _folder(tmp_path / "ok", {"neutrophil": 10, "lymphocyte": 10, "blasts": 13, "dead": 5})
    args = ["train", "classify", "--out", str(tmp_path / "w"), "--epochs", "1", "--device", "cpu"]
    res = runner.invoke(main, [*args, "--data", str(ok)])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "w" / "classify.json").read_text())
    assert card["architecture"]["classes"] == [*CLASSES, "blast"]
    assert card["data"]["class_counts"]["blast"] == 13
    from uvscope.models.predict import load_classifier

    clf = load_classifier(str(tmp_path / "w" / "classify.safetensors"), "cpu")
    _, p = clf.predict(np.zeros((2, 3, clf.crop_size, clf.crop_size), np.float32))
    assert clf.classes == CLASS_NAMES and p.shape == (2, len(CLASS_NAMES))
    assert np.allclose(p.sum(1), 1.0, atol=1e-4)
    few = _folder(tmp_path / "few", {"neutrophil": 10, "lymphocyte": 10, "plasma_cells": 3})
    res = runner.invoke(main, [*args, "--data", str(few)])
    assert res.exit_code == 2 and "too few training examples of plasma_cell (" in res.output
