"""The morphology network in the whole-smear analysis: chosen by ``[cbc] morphology``, run on
every whole red cell, scored against the simulator's truth on a slide no training used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from uvscope.analysis.dedup import CoreRegions
from uvscope.analysis.evaluate_cbc import score, truth_in_box
from uvscope.analysis.rbc_classify import (
    RULES_METHOD,
    NetworkMorphology,
    choose_morphology,
    morphology_method,
    network_available,
    rule_morphology,
)
from uvscope.analysis.settings import CbcSettings
from uvscope.analysis.smear import SmearAnalyser
from uvscope.classes import RBC_CLASSES
from uvscope.errors import ModelError

from .smear_grid import grid
from .test_smear import camera, counted

pytestmark = pytest.mark.skipif(
    not network_available(), reason="no shipped red-cell morphology weights (rbc.safetensors)"
)


def test_the_network_calls_the_sickle_cells_of_a_held_out_slide() -> None:
    """Slide seed 21 (the export trains on seeds 1-3), a 2 x 3 grid with overlaps."""
    an = SmearAnalyser(CbcSettings(morphology="network"))
    assert isinstance(an.morphology, NetworkMorphology)
    cam = camera("sickle")
    specs = grid(cam, 2, 3)
    cores = CoreRegions(specs, cam.shape, cam.px)
    tiles = [
        an.analyse(cam.tile(s), cam.world.ground_truth(s.x_mm, s.y_mm).cell_labels, cores)
        for s in specs
    ]
    hx, hy = cam.half_um()
    xs, ys = [s.x_mm * 1e3 for s in specs], [s.y_mm * 1e3 for s in specs]
    true_rbcs, true_plts = truth_in_box(
        cam.world, (min(xs) - hx, min(ys) - hy, max(xs) + hx, max(ys) + hy)
    )
    rbcs, plts = counted(tiles)
    sc = score(rbcs, true_rbcs, true_plts, plts)
    sickle_true = sum(v for (t, _), v in sc.confusion.items() if t == "sickle")
    assert sickle_true >= 10
    assert sc.confusion[("sickle", "sickle")] >= 0.8 * sickle_true, sc.confusion
    false_sickle = sum(v for (t, m), v in sc.confusion.items() if t != "sickle" and m == "sickle")
    assert false_sickle <= 2, sc.confusion
    right = sum(v for (t, m), v in sc.confusion.items() if t == m)
    assert right >= 0.95 * sum(sc.confusion.values())
    # overlapped cells are counted, never classified
    assert all(r.morph == "" for r in rbcs if r.overlapped)
    assert {r.morph for r in rbcs if not r.overlapped} <= set(RBC_CLASSES)


def test_only_whole_cells_reach_the_network() -> None:
    net = NetworkMorphology()
    od = np.zeros((60, 60), np.float32)
    pieces = np.zeros((60, 60), np.int32)
    yy, xx = np.mgrid[:60, :60]
    for k, cx in ((1, 15), (2, 45)):
        disc = (yy - 30) ** 2 + (xx - cx) ** 2 <= 11**2
        pieces[disc], od[disc] = k, 0.2

    class S:  # the two fields the network reads, as Shapes holds them
        area_um2 = np.zeros(3)
        row = np.array([0.0, 30.0, 30.0])
        col = np.array([0.0, 15.0, 45.0])

    out = net(od, pieces, S(), np.array([False, True, False]), 0.32)  # type: ignore[arg-type]
    assert out[2] == "" and out[1] in net.cfg.classes and out[0] == ""
    with pytest.raises(ModelError, match="trained at 0.32 um/px"):
        net(od, pieces, S(), np.array([False, True, True]), 0.5)  # type: ignore[arg-type]


def test_the_setting_chooses_and_cbc_json_says_which(tmp_path: Path) -> None:
    assert choose_morphology(CbcSettings(morphology="rules")) is rule_morphology
    assert morphology_method(CbcSettings(morphology="rules")) == RULES_METHOD
    assert morphology_method(CbcSettings(morphology="network")).startswith(
        "morphology network (rbc.safetensors, sha256 "
    )
    missing = str(tmp_path / "none.safetensors")
    # auto without weights: the rule set; the network asked for without weights: an error
    assert choose_morphology(CbcSettings(morphology="auto", morphology_weights=missing)) is (
        rule_morphology
    )
    with pytest.raises(ModelError, match="uvscope train rbc"):
        choose_morphology(CbcSettings(morphology="network", morphology_weights=missing))


def test_analyze_with_the_network_writes_its_classes_and_says_so(tmp_path: Path) -> None:
    """`uvscope analyze`'s code path with ``[cbc] morphology = "network"`` on a saved scan."""
    import csv
    import json

    from tests.analysis.synth import fake_models
    from uvscope.analysis.models import ModelSet
    from uvscope.analysis.session import analyse_scan_folder
    from uvscope.analysis.settings import AnalysisSettings
    from uvscope.report.page import write_report

    from .test_smear import _NoCells, _scan_folder

    f = fake_models()
    models = ModelSet(_NoCells(), f.stainer, f.classifier, provenance=f.provenance)
    root, *_ = _scan_folder(tmp_path, backgrounds=True)
    settings = AnalysisSettings(cbc=CbcSettings(morphology="network"))
    analyse_scan_folder(root, models, settings, report=write_report)
    a = root / "analysis"
    doc = json.loads((a / "cbc.json").read_text())
    assert doc["morphology"]["method"].startswith("morphology network (rbc.safetensors")
    with open(a / "rbc.csv", newline="") as fh:
        morph = [r["morph"] for r in csv.DictReader(fh) if r["morph"]]
    assert len(morph) == doc["morphology"]["classified"] > 150
    assert morph.count("normal") >= 0.95 * len(morph)  # a healthy donor
    assert "whole cells, network)" in (a / "report.html").read_text()
