"""Reference intervals: H/L marks, bands with the neutrophils, critical findings, lab files."""

from __future__ import annotations

from pathlib import Path

import pytest

from uvscope.analysis.flags import ordered
from uvscope.analysis.reference import (
    DEFAULT_SOURCE,
    ReferenceIntervals,
    evaluate,
    load_reference,
)
from uvscope.errors import ConfigError

NORMAL = {"neutrophil": 60, "lymphocyte": 30, "monocyte": 6, "eosinophil": 3, "basophil": 1}


def test_a_normal_adult_differential_raises_no_flag():
    result = evaluate(NORMAL)
    assert result.flags == []
    assert {r.mark for r in result.rows.values()} == {""}
    assert result.rows["neutrophil"].reference == "40-80"
    assert result.denominator == 100
    assert "Dacie and Lewis" in DEFAULT_SOURCE


def test_bands_are_counted_with_the_neutrophils_and_shown_apart():
    counts = {
        "neutrophil": 35,
        "band_neutrophil": 8,
        "lymphocyte": 45,
        "monocyte": 8,
        "eosinophil": 3,
        "basophil": 1,
    }
    result = evaluate(counts)
    # 35 segmented alone would be 35.8 % of 92 five-part cells (L): with the 8 bands, 43 %
    assert result.denominator == 100
    assert result.rows["neutrophil"].count == 43 and result.rows["neutrophil"].mark == ""
    assert result.bands is not None and result.bands.percent == pytest.approx(8.0)
    codes = [f.code for f in result.flags]
    assert codes == ["lymphocyte_high", "band_neutrophil_high"]
    assert result.rows["lymphocyte"].mark == "H"


def test_a_blast_is_a_critical_finding_and_comes_first():
    # the blast is in the differential's 100 % (103 cells): neutrophils 42 / 103 stay in range
    result = evaluate({**NORMAL, "neutrophil": 42, "lymphocyte": 50, "blast": 1})
    flags = ordered(result.flags)
    assert flags[0].code == "blast" and flags[0].critical
    assert "1 (1.0 per 100 WBCs)" in flags[0].message
    assert [f.code for f in flags[1:]] == ["lymphocyte_high"]
    assert not flags[1].critical


def test_absolute_counts_mark_what_the_percent_hides():
    # 70 % neutrophils is inside 40-80 %, but 70 % of 12,000 /uL is 8,400 /uL: above 7,000
    result = evaluate({**NORMAL, "neutrophil": 70, "lymphocyte": 20}, wbc_per_ul=12_000)
    neut = result.rows["neutrophil"]
    assert neut.per_ul == pytest.approx(8400.0) and neut.mark == "H"
    assert "8,400 /µL" in result.flags[0].message
    assert evaluate({**NORMAL, "neutrophil": 70, "lymphocyte": 20}).rows["neutrophil"].mark == ""


def test_a_lab_file_replaces_the_intervals_and_typos_name_the_field(tmp_path: Path):
    path = tmp_path / "ref.toml"
    path.write_text(
        'source = "St Elsewhere lab, verified 2026"\ncritical_classes = ["blast"]\n'
        "[intervals.neutrophil]\nlow_percent = 50\nhigh_percent = 70\n",
        encoding="utf-8",
    )
    ref = load_reference(path)
    assert ref.source.startswith("St Elsewhere")
    assert set(ref.intervals) == {"neutrophil"}  # only what the lab gives is checked
    assert evaluate(NORMAL, ref).flags == []
    assert evaluate({**NORMAL, "neutrophil": 120}, ref).rows["neutrophil"].mark == "H"  # 75 %
    path.write_text("[intervals.neutrophil]\nlow_precent = 50\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="intervals.neutrophil.low_precent: unknown field"):
        load_reference(path)
    path.write_text('critical_classes = ["blasts"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="'blasts' is not a class"):
        load_reference(path)
    path.write_text("[intervals.monocyte]\nlow_percent = 12\nhigh_percent = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="low limit 12.0 is above the high limit 2.0"):
        load_reference(path)


def test_defaults_are_one_model():
    assert ReferenceIntervals() == ReferenceIntervals.model_validate({})
