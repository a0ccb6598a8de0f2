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
