"""The report shows the pre-classified cells and the findings they raise: blasts as a critical
finding first, the IG % above the lab's share, NRBC per 100 WBC outside the 100 %."""

from __future__ import annotations

import re
from pathlib import Path

from uvscope.report.page import write_report
from uvscope.report.preclass import preclass_table_html

from ._report_fixture import make_scan

SMEAR = (
    ["neutrophil"] * 100
    + ["lymphocyte"] * 70
    + ["monocyte"] * 12
    + ["band_neutrophil"] * 6
    + ["myelocyte"] * 5
    + ["metamyelocyte"] * 4
    + ["blast"] * 3
    + ["nrbc"] * 4
    + ["dead"] * 2
)  # 200 white cells in the 100 %, 4 NRBC apart


def test_the_report_puts_blasts_first_and_lists_ig_and_nrbc(tmp_path: Path) -> None:
    page = write_report(make_scan(tmp_path, SMEAR, images=False)).read_text()
    critical = re.findall(r"<b>CRITICAL: ([^<]+)</b>", page)
    assert critical == ["Blasts seen: 3 (1.5 per 100 WBCs)"]  # once, before the title
    assert page.index("CRITICAL: Blasts") < page.index("<h1>")
    raised = re.findall(r'<tr class="raised"><td class="flag">FLAG</td><td>([^<]+)</td>', page)
    assert "immature granulocytes" in raised
    assert "Immature granulocytes 4.5 % (9 of 200 WBCs" in page
    line = page[page.index('<p class="preclass">') :].split("</p>")[0]
    items = dict(re.findall(r"<b>([^<]+)</b> (\d+) \(", line))
    assert items["band neutrophil"] == "6" and items["blast"] == "3"
    assert items["IG (meta-, myelo-, promyelocytes)"] == "9"
    assert items["nucleated red cells"] == "4" and "2.0 / 100 WBC" in line
    assert "bands listed apart" in line


def test_a_healthy_smear_has_no_finding_and_an_old_differential_no_table() -> None:
    diff = {"classes": [], "preclasses": [], "flags": [], "nrbc": 0, "nrbc_per_100_wbc": 0.0}
    assert "nucleated red cells" in preclass_table_html(diff)
    assert preclass_table_html({"classes": []}) == ""  # written before the pre-classes
