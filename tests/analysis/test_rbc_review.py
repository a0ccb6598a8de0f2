"""The red-cell review's pure parts: borderline margins, reviewed shares, the review file."""

from __future__ import annotations

from pathlib import Path

import pytest

from uvscope.analysis.rbc_morphology import SICKLE_ELONGATION
from uvscope.analysis.rbc_review import (
    NOT_RED_CELL,
    PLATELET,
    PLATELET_CLUMP,
    SmearObject,
    final_labels,
    load_reviewed_rbc,
    morphology_shares,
    platelet_counts,
    rule_margins,
    save_reviewed_rbc,
)
from uvscope.errors import StorageError


def _cell(major: float, minor: float = 3.0, pallor: float = 0.6, solidity: float = 0.99) -> dict:
    return {
        "area_um2": 40.0,
        "major_axis_um": major,
        "minor_axis_um": minor,
        "solidity": solidity,
        "pallor_ratio": pallor,
        "centre_ratio": 0.5,
    }


def test_a_cell_at_a_threshold_is_borderline_and_a_clear_one_is_not() -> None:
    at_edge = _cell(3.0 * SICKLE_ELONGATION * 1.005)  # just a sickle cell
    clear_sickle = _cell(3.0 * 4.0)
    clear_normal = _cell(7.6, 7.4)
    m = rule_margins([at_edge, clear_sickle, clear_normal])
    assert m[0] == pytest.approx(0.01)
    assert m[1] >= 0.2 and m[2] >= 0.1


def _obj(oid: str, predicted: str) -> SmearObject:
    return SmearObject(oid, 0, 1.0, 2.0, predicted, 8.0, 1.0, "")


def test_reviewed_shares_follow_the_reviewer() -> None:
    objs = [_obj("a", "normal"), _obj("b", "normal"), _obj("c", "sickle"), _obj("p", PLATELET)]
    auto = morphology_shares(final_labels(objs, {}).values())
    assert auto["normal"]["count"] == 2 and auto["sickle"]["percent"] == pytest.approx(100 / 3)
    # b is a sickle cell, c is debris: 1 normal, 1 sickle out of 2 red cells
    labels = final_labels(objs, {"b": "sickle", "c": NOT_RED_CELL, "p": PLATELET_CLUMP})
    shares = morphology_shares(labels.values())
    assert shares["normal"]["count"] == 1 and shares["sickle"]["percent"] == pytest.approx(50.0)
    lo, hi = shares["sickle"]["ci_percent"]
    assert lo < 50.0 < hi
    assert platelet_counts(labels.values()) == {PLATELET: 0, PLATELET_CLUMP: 1}
    assert morphology_shares([])["normal"]["percent"] is None


def test_the_review_file_round_trips_and_rejects_unknown_classes(tmp_path: Path) -> None:
    path = save_reviewed_rbc(tmp_path, [(_obj("b", "normal"), "sickle")])
    assert path.read_text(encoding="utf-8").splitlines() == [
        "object_id,tile,x_um,y_um,predicted,reviewed",
        "b,0,1.000,2.000,normal,sickle",
    ]
    assert load_reviewed_rbc(tmp_path)["b"].reviewed == "sickle"
    assert not list(path.parent.glob("*.tmp"))
    path.write_text(path.read_text().replace("sickle", "banana"), encoding="utf-8")
    with pytest.raises(StorageError, match="unknown class 'banana'"):
        load_reviewed_rbc(tmp_path)


def test_a_gallery_shows_the_least_sure_of_each_class_under_its_current_label() -> None:
    from dataclasses import replace

    from uvscope.analysis.rbc_review import shown_objects

    objs = [replace(_obj(f"n{i}", "normal"), margin=m) for i, m in enumerate([0.2, 0.01, 0.05])]
    objs.append(replace(_obj("s", "sickle"), margin=0.5))
    shown = shown_objects(objs, {}, per_class=2)
    assert [o.object_id for o in shown] == ["n1", "n2", "s"]
    # a reviewed label counts in its new class: n1 is a sickle cell now, n0 comes in
    shown = shown_objects(objs, {"n1": "sickle"}, per_class=2)
    assert sorted(o.object_id for o in shown) == ["n0", "n1", "n2", "s"]
