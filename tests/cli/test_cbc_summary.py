"""The terminal's red-cell and platelet lines: what cbc.json says, never a haemoglobin number
that was not measured, critical flags first."""

from __future__ import annotations

from uvscope.cli.cbc_summary import cbc_lines

DOC = {
    "red_cells_counted": 2381,
    "haemoglobin": {"measured": True, "mch_pg": 27.9, "mch_ci_pg": [27.64, 28.16]},
    "size": {"measured": True, "mean_diameter_um": 7.441, "rdw_cv_percent": 6.12},
    "platelets": {"per_1000_rbc": 6.2, "per_ul": 27_900.0},
    "flags": [
        {"code": "sickle", "message": "Sickle cells seen", "rule": "any", "critical": False},
        {"code": "thrombocytopenia", "message": "Low platelets", "rule": "<150", "critical": True},
    ],
}


def test_the_indices_and_flags_critical_first() -> None:
    lines = cbc_lines(DOC)
    assert lines[0] == (
        "red cells: 2381 counted; MCH 27.9 pg (27.6-28.2); diameter 7.44 um, RDW 6.1 %; "
        "platelets 6 per 1,000 RBC (~28 x10^3/uL)"
    )
    assert lines[1:] == ["CRITICAL: Low platelets (<150)", "flag: Sickle cells seen (any)"]


def test_no_haemoglobin_number_without_a_background() -> None:
    doc = {**DOC, "haemoglobin": {"measured": False, "problems": ["no background"]}, "flags": []}
    (line,) = cbc_lines(doc)
    assert "haemoglobin not measured (no background)" in line and "MCH" not in line
