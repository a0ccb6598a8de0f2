"""A damaged ``analysis/reviewed_labels.csv`` is named as itself, never blamed on the
differential or the cells table, and never read as "no review"."""

from __future__ import annotations

from pathlib import Path

import pytest

from uvscope.analysis.review import REVIEWED_CSV, REVIEWED_FIELDS, load_reviewed_labels
from uvscope.errors import StorageError

GOOD = ",".join(REVIEWED_FIELDS) + "\nc1,0,1.0,2.0,neutrophil,lymphocyte\n"

DAMAGE = [
    ("random-bytes", bytes(range(128, 256)) * 8, "not CSV text"),
    ("utf16", GOOD.encode("utf-16"), "reviewed_labels.csv"),
    ("one-line-of-text", b"just some text\n", "not a reviewed-labels file"),
    ("other-csv", b"name,class\n001,neutrophil\n", "not a reviewed-labels file"),
    ("empty", b"", "is empty"),
    ("truncated-row", GOOD.encode()[:-20], "line 2"),
    ("unknown-class", GOOD.replace("lymphocyte", "zombiecyte").encode(), "zombiecyte"),
]


@pytest.mark.parametrize(("data", "expect"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_damage_names_the_file(tmp_path: Path, data: bytes, expect: str) -> None:
    path = tmp_path / REVIEWED_CSV
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    with pytest.raises(StorageError, match="reviewed_labels.csv") as err:
        load_reviewed_labels(tmp_path)
    assert expect in str(err.value)
    assert "differential.json" not in str(err.value) and "cells.csv" not in str(err.value)


def test_a_whole_file_and_no_file_still_load(tmp_path: Path) -> None:
    assert load_reviewed_labels(tmp_path) == {}
    path = tmp_path / REVIEWED_CSV
    path.parent.mkdir(parents=True)
    path.write_text(GOOD)
    labels = load_reviewed_labels(tmp_path)
    assert labels["c1"].reviewed == "lymphocyte" and labels["c1"].tile == 0
    path.write_text(",".join(REVIEWED_FIELDS) + "\n")  # reviewed, nothing changed
    assert load_reviewed_labels(tmp_path) == {}
