"""The extended differential from given counts: the pre-classes in the 100 %, bands apart or
with the neutrophils, IG %, nucleated red cells per 100 WBC outside the 100 %, smudge cells
apart, and the flags (blasts critical, IG above the lab's share) in differential.json."""

from __future__ import annotations

import json

import pytest

from uvscope.analysis.differential import DifferentialCounter
from uvscope.analysis.flags import Flag
from uvscope.analysis.review import OUTSIDE_CLASSES, REVIEW_CLASSES
from uvscope.analysis.settings import AnalysisSettings, DifferentialSettings
from uvscope.classes import CLASSES, PRECLASSES


def _counter(counts: dict[str, int], **rules: object) -> DifferentialCounter:
    c = DifferentialCounter(rules=DifferentialSettings(**rules))
    for name, n in counts.items():
        for _ in range(n):
            c.add(name, dead=False)
    return c


LEFT_SHIFT = {
    "neutrophil": 110,
    "band_neutrophil": 24,
    "metamyelocyte": 8,
    "myelocyte": 5,
    "promyelocyte": 1,
    "lymphocyte": 40,
    "monocyte": 12,
    "nrbc": 3,
    "smudge": 2,
}  # 200 white cells in the 100 %, 3 NRBC and 2 smudge cells apart


def test_pre_classes_are_in_the_100_percent_and_nrbc_smudge_apart() -> None:
    d = _counter(LEFT_SHIFT).snapshot()
    assert d.healthy == 200
    rows = d.by_name()
    assert rows["neutrophil"].percent == pytest.approx(55.0)
    assert rows["band_neutrophil"].percent == pytest.approx(12.0)
    assert d.immature_granulocytes is not None
    assert d.immature_granulocytes.count == 14
    assert d.immature_granulocytes.percent == pytest.approx(7.0)
    assert sum(c.percent for c in (*d.classes, *d.preclasses)) == pytest.approx(100.0)
    assert d.nrbc == 3 and d.nrbc_per_100_wbc == pytest.approx(1.5) and d.smudge == 2
    assert "nrbc" not in rows and "smudge" not in rows


def test_bands_join_the_neutrophils_when_the_lab_says_so() -> None:
    d = _counter(LEFT_SHIFT, bands_with_neutrophils=True).snapshot()
    rows = d.by_name()
    assert rows["neutrophil"].count == 134 and "band_neutrophil" not in rows
    assert d.healthy == 200 and d.bands_with_neutrophils


def test_ig_above_the_share_flags_and_blasts_are_critical_first() -> None:
    d = _counter({**LEFT_SHIFT, "blast": 2}).snapshot()
    assert [f.code for f in d.flags] == ["blasts", "immature_granulocytes"]
    assert d.flags[0].critical and not d.flags[1].critical
    assert "2 of 202 WBCs" in d.flags[0].message
    # the IG share is the lab's: at 10 % the same smear raises no IG flag
    d10 = _counter({**LEFT_SHIFT, "blast": 2}, ig_flag_percent=10.0).snapshot()
    assert [f.code for f in d10.flags] == ["blasts"]


def test_a_healthy_count_raises_no_flag_and_reads_as_the_five_parts() -> None:
    d = _counter(
        {"neutrophil": 120, "lymphocyte": 60, "monocyte": 12, "eosinophil": 6, "basophil": 2}
    ).snapshot()
    assert d.flags == () and d.healthy == 200
    assert sum(c.percent for c in d.classes) == pytest.approx(100.0)
    assert d.immature_granulocytes is not None and d.immature_granulocytes.count == 0


def test_flags_and_pre_classes_are_in_differential_json() -> None:
    d = _counter({**LEFT_SHIFT, "blast": 1}).snapshot()
    doc = json.loads(json.dumps(d.to_dict()))
    assert doc["flags"][0]["code"] == "blasts" and doc["flags"][0]["critical"] is True
    assert Flag.from_dict(doc["flags"][1]).code == "immature_granulocytes"
    assert doc["nrbc_per_100_wbc"] == pytest.approx(100 * 3 / 201)
    assert {c["name"] for c in doc["preclasses"]} >= {"band_neutrophil", "blast", "myelocyte"}


def test_settings_carry_the_lab_policy_and_review_lists_every_class() -> None:
    s = AnalysisSettings.model_validate({"differential": {"bands_with_neutrophils": True}})
    assert s.differential.bands_with_neutrophils and s.differential.ig_flag_percent == 2.0
    with pytest.raises(ValueError, match="ig_flag_persent"):
        AnalysisSettings.model_validate({"differential": {"ig_flag_persent": 3}})
    assert set(PRECLASSES) <= set(OUTSIDE_CLASSES)
    assert set(REVIEW_CLASSES) == {*CLASSES, "dead", *PRECLASSES, "artefact", "unidentified"}


def test_an_unknown_class_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown class"):
        DifferentialCounter().add("megakaryocyte", dead=False)
