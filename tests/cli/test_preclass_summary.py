"""The CLI summary (uvscope scan / analyze) shows the pre-classes and flags blasts first."""

from __future__ import annotations

from uvscope.analysis.differential import DifferentialCounter
from uvscope.cli.analyze import console, print_differential


def test_summary_lists_bands_ig_nrbc_and_a_critical_blast_flag() -> None:
    c = DifferentialCounter()
    counts = {"neutrophil": 150, "lymphocyte": 40, "band_neutrophil": 4, "myelocyte": 5}
    counts |= {"blast": 1, "nrbc": 6, "smudge": 2}
    for name, n in counts.items():
        for _ in range(n):
            c.add(name, dead=False)
    with console.capture() as cap:
        print_differential(c.snapshot().to_dict())
    text = cap.get()
    assert "band neutrophil" in text and "IG (meta+myelo+pro)" in text
    assert "NRBC (apart)" in text and "3.0/100" in text and "smudge (apart)" in text
    lines = [ln for ln in text.splitlines() if "CRITICAL" in ln or ln.startswith("flag")]
    assert lines[0].startswith("CRITICAL: Blasts seen: 1 of 200 WBCs")
    assert lines[1].startswith("flag: Immature granulocytes 2.5 %")


def test_a_healthy_summary_has_no_flag_but_lists_bands_apart() -> None:
    c = DifferentialCounter()
    for _ in range(100):
        c.add("neutrophil", dead=False)
    with console.capture() as cap:
        print_differential(c.snapshot().to_dict())
    text = cap.get()
    assert "CRITICAL" not in text and "flag:" not in text and "band neutrophil" in text
