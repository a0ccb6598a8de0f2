"""The report marks the differential against the reference intervals and opens with the
critical findings (a reviewer's blast), in the lab's own intervals when it has them."""

from __future__ import annotations

from pathlib import Path

from tests.report._report_fixture import make_scan, review
from uvscope.analysis.reference import Interval, ReferenceIntervals
from uvscope.report.page import write_report

#: 20 neutrophils, 16 lymphocytes, 2 monocytes, 2 eosinophils: lymphocytes 40 % (in range)
CLASSES = ["neutrophil"] * 20 + ["lymphocyte"] * 16 + ["monocyte"] * 2 + ["eosinophil"] * 2


def _ids(scan: Path, cls: str) -> list[str]:
    lines = (scan / "analysis" / "cells.csv").read_text().splitlines()[1:]
    return [ln.split(",")[0] for ln in lines if ln.split(",")[4] == cls]


def test_a_reviewed_blast_opens_the_report_as_a_critical_finding(tmp_path: Path):
    scan = make_scan(tmp_path, CLASSES, images=False, sample={"id": "H-9", "slide_id": "S-9"})
    lymph = _ids(scan, "lymphocyte")
    review(scan, [(lymph[0], "lymphocyte", "blast"), (lymph[1], "lymphocyte", "band_neutrophil")])
    page = write_report(scan).read_text(encoding="utf-8")
    findings = page.index("<b>CRITICAL: Blasts seen: 1")
    assert findings < page.index("<h1>")  # before everything else, the title included
    assert "H-9" in page[page.index("<h1>") :]  # identity in the header
    table = page[page.index("Against the reference intervals") :]
    # 40 WBCs after review (the blast and the band are in the 100 %); neutrophils 20 + 1 band
    assert "neutrophil* <b>52.5 %</b> (40-80)" in table
    assert "* with 1 band (2.5 % of 40 WBCs, reference 0-5 %)" in table
    assert "Dacie and Lewis" in table


def test_h_and_l_marks_and_absolute_counts_in_the_lab_intervals(tmp_path: Path):
    scan = make_scan(tmp_path, CLASSES, images=False)
    lab = ReferenceIntervals(
        source="Test lab 2026",
        intervals={"lymphocyte": Interval(low_percent=20, high_percent=35)},
    )
    page = write_report(scan, reference=lab, wbc_per_ul=10_000).read_text(encoding="utf-8")
    table = page[page.index("Against the reference intervals") :]
    assert 'lymphocyte <b>40.0 %</b>, 4,000 /µL (20-35) <b class="flag"' in table
    assert '#c0392b">&nbsp;H&nbsp;</b>' in table
    assert "Intervals: Test lab 2026" in table
    assert "CRITICAL" not in page[: page.index("<h1>")]  # nothing critical: no red line
    flags = page[page.index('<table class="flags">') :]
    assert "Lymphocytes 40.0 %" not in flags[: flags.index("</table>")]  # marked, not repeated
    assert "&nbsp;H&nbsp;" not in write_report(scan).read_text(encoding="utf-8")


def test_the_gallery_is_grouped_by_the_reviewed_class(tmp_path: Path):
    scan = make_scan(tmp_path, CLASSES[:6] + CLASSES[20:24], tiles=2)  # 6 neut, 4 lymph
    lymph = _ids(scan, "lymphocyte")
    review(scan, [(lymph[0], "lymphocyte", "blast")])
    page = write_report(scan).read_text(encoding="utf-8")
    gallery = page[page.index('<div class="gclass">') :]
    assert "<h3>lymphocyte (3)</h3>" in gallery and "<h3>neutrophil (6)</h3>" in gallery
    blast = gallery[gallery.index("<h3>blast (1)</h3>") :]
    assert f'alt="{lymph[0]}"' in blast[: blast.index("</div></div>")]
    assert "<b>was lymphocyte</b>" in blast


def test_a_left_shift_leads_the_quality_flags(tmp_path: Path):
    scan = make_scan(tmp_path, CLASSES, images=False)
    review(scan, [(c, "neutrophil", "band_neutrophil") for c in _ids(scan, "neutrophil")[:4]])
    page = write_report(scan).read_text(encoding="utf-8")
    flags = page[page.index('<table class="flags">') :]
    first = flags[: flags.index("</tr>")]
    assert "band neutrophil high" in first and "Bands 10.0 % of WBCs" in first
