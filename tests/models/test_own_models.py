"""Models trained on own data: inference tiling, absent dead head, modality refusal, and a
train -> evaluate -> analyze round trip on real labelled images from ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tests.conftest import SHARED_DATA
from uvscope.analysis.inference import predict_blended
from uvscope.cli import main
from uvscope.errors import ModelError
from uvscope.models.arch import ClassifyConfig, SegConfig, inference_patch_px
from uvscope.models.predict import CellClassifier, Segmenter
from uvscope.models.registry import build_network, fit_problem

ZHENG = SHARED_DATA / "zheng-wbc-d1"


@pytest.mark.parametrize("patch", [16, 32, 48, 64, 128, 256])
@pytest.mark.parametrize("depth", [3, 4, 5])
def test_inference_patch_count_of_any_trained_model_is_bounded(patch: int, depth: int) -> None:
    """A 1392 x 1040 camera tile at 0.16 um/px, binned to a 0.32 um/px network: the patch
    count follows from the network, not from the patch it was trained on (patch 32 once gave
    325,185 patches a tile)."""
    cfg = SegConfig(base_width=4, depth=depth, patch_size=patch)
    seg = Segmenter(build_network("segment", cfg), cfg, {}, device="cpu")
    assert seg.patch_size == inference_patch_px(cfg) >= max(128, patch)
    assert seg.patch_size % 2**depth == 0
    calls: list[int] = []

    def count(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x

    predict_blended([np.zeros((520, 696), np.float32)], count, seg.patch_size, 32, 64)
    assert sum(calls) <= 42  # the shipped 128-px network's count; never more


def test_a_classifier_without_dead_training_cells_reports_no_dead_cells() -> None:
    cfg = ClassifyConfig(width=4, crop_size=32)
    net = build_network("classify", cfg)
    x = np.random.default_rng(0).random((5, 3, 32, 32), dtype=np.float32)
    with_head = CellClassifier(net, cfg, {"dead_head": "trained"}, device="cpu")
    without = CellClassifier(net, cfg, {"dead_head": "absent"}, device="cpu")
    pd1, pc1 = with_head.predict(x)
    pd2, pc2 = without.predict(x)
    assert pd1.min() > 0 and (pd2 == 0).all()
    np.testing.assert_allclose(pc1, pc2)


def test_modality_and_input_mismatch_is_refused_unless_overridden(monkeypatch) -> None:
    import uvscope.analysis.models as am

    assert fit_problem({"kind": "segment"}) is None  # cards before modality: simulator uv260
    assert "rgb-stained" in str(fit_problem({"kind": "segment", "modality": "rgb-stained"}))
    assert "rgb-crop" in str(fit_problem({"kind": "classify", "input": "rgb-crop"}))

    class Fake:
        def __init__(self, card: dict) -> None:
            self.card = card

    class Mod:
        load_segmenter = staticmethod(lambda n, device: Fake({"kind": "segment"}))
        load_stainer = staticmethod(lambda n, device: Fake({"kind": "stain"}))
        load_classifier = staticmethod(
            lambda n, device: Fake(
                {"kind": "classify", "modality": "rgb-stained", "input": "rgb-crop"}
            )
        )

    monkeypatch.setattr(am, "_predict_module", lambda: Mod)
    with pytest.raises(ModelError, match="classifier 'mine'.*rgb-stained.*allow-model-mismatch"):
        am.load_models("default", None, "mine")
    ms = am.load_models("default", None, "mine", allow_mismatch=True)
    assert "rgb-stained" in ms.provenance["mismatch_overridden"][0]


def _zheng_subset(root: Path, n: int = 12) -> Path:
    """A small own-data folder of real images (linked, not copied)."""
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    rows = (ZHENG / "classes.csv").read_text().splitlines()
    keep = [r for r in rows[1:] if r.split(",")[1] in ("neutrophil", "lymphocyte")][:n]
    for r in keep:
        name = r.split(",")[0]
        for sub in ("images", "masks"):
            (root / sub / f"{name}.png").symlink_to(ZHENG / sub / f"{name}.png")
    (root / "classes.csv").write_text("name,class\n" + "\n".join(keep) + "\n")
    (root / "dataset.toml").write_text('pixel_size_um = 0.157\nmodality = "rgb-stained"\n')
    return root


@pytest.mark.slow
def test_round_trip_on_real_images_train_evaluate_then_analyze(tmp_path: Path) -> None:
    if not ZHENG.is_dir():
        pytest.skip(f"real data not here: {ZHENG} (a checkout without ../shared/data)")
    torch.set_num_threads(1)
    data = _zheng_subset(tmp_path / "own")
    out = tmp_path / "runs"
    common = ["--data", str(data), "--out", str(out), "--epochs", "1", "--folds", "3"]
    r = CliRunner().invoke(main, ["train", "segment", *common, "--steps", "2"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["train", "classify", *common, "--classifier-input", "composite"])
    assert r.exit_code == 0, r.output
    card = json.loads((out / "classify.json").read_text())
    assert card["dead_head"] == "absent" and card["input"] == "composite"
    assert card["data"]["pixel_size_um"] == 0.157 and card["modality"] == "rgb-stained"
    assert (out / "classify.safetensors").stat().st_mode & 0o777 == 0o644
    r = CliRunner().invoke(
        main, ["evaluate", "classify", "--data", str(data), "--weights", str(out), "--json"]
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    test_names = set(card["data"]["split"]["test"])
    assert int(np.sum(res["five_part"]["confusion"])) == len(test_names)
    assert res["five_part"]["macro"]["n_classes"] <= 2  # only the classes present
    # a 260 nm scan refuses stained-smear weights, and runs them when told to
    scan = _make_scan(tmp_path)
    args = ["analyze", str(scan), "--models", str(out), "--stainer", "none", "--no-report"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code != 0 and "rgb-stained" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, [*args, "--allow-model-mismatch", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert (scan / "analysis" / "cells.csv").exists()


def _make_scan(tmp_path: Path) -> Path:
    from tests.analysis.conftest import PX_UM, SHAPE
    from tests.analysis.scanfolder_fixture import write_scan_folder
    from tests.analysis.synth import grid_specs, make_tile, random_slide

    specs = grid_specs(1, 2, SHAPE, PX_UM, 0.3)
    cells = random_slide(
        10,
        (specs[0].x_mm * 1e3 - 15, specs[1].x_mm * 1e3 + 15),
        (specs[0].y_mm * 1e3 - 12, specs[0].y_mm * 1e3 + 12),
        seed=8,
    )
    tiles = [make_tile(s, cells, SHAPE, PX_UM) for s in specs]
    write_scan_folder(tmp_path / "scan", specs, tiles)
    return tmp_path / "scan"


def test_networks_far_from_the_scan_pixel_size_are_refused_unless_overridden() -> None:
    from uvscope.analysis.models import ModelSet, check_pixel_fit

    class Net:
        def __init__(self, px: float) -> None:
            self.pixel_size_um = px

    ms = ModelSet(Net(0.32), None, Net(0.32), {"segmenter": "a", "classifier": "b"})  # type: ignore[arg-type]
    check_pixel_fit(ms, 0.16)  # 2x: resampled
    check_pixel_fit(ms, 0.08)  # 4x: still fits
    with pytest.raises(ModelError, match="segmenter 'a' works at 0.32 um/px.*0.065"):
        check_pixel_fit(ms, 0.065)
    ms.provenance["allow_mismatch"] = True
    check_pixel_fit(ms, 0.065)
    assert "0.065" in ms.provenance["mismatch_overridden"][0]
