"""The report a lab signs: header, flags, classes outside the differential, sign-off, print."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from uvscope.analysis.review import load_reviewed_labels, sign_off
from uvscope.report.page import write_report
from uvscope.report.provenance import PROVENANCE_NAME

from ._report_fixture import make_scan, printed_pages, review

HEALTHY = ["neutrophil"] * 60 + ["lymphocyte"] * 30 + ["monocyte"] * 6 + ["eosinophil"] * 3
FEW = ["neutrophil", "lymphocyte"]


def _flag(page: str, name: str) -> str:
    m = re.search(rf'<td class="(flag|ok)">[^<]*</td><td>{name}</td><td>([^<]*)</td>', page)
    assert m, f"no flag row {name!r}"
    return f"{m.group(1)}: {m.group(2)}"


@pytest.fixture
def berlin(monkeypatch):
    """The lab's clock one hour east of UTC: every time on the report is local, with +01:00."""
    import time

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_header_names_sample_slide_operator_rig_and_dates(tmp_path: Path, berlin) -> None:
    sample = {"id": "S-0042", "slide_id": "SL-7", "operator": "A. Tech"}
    page = write_report(make_scan(tmp_path, HEALTHY, sample=sample, images=False)).read_text()
    for key, value in (
        ("Sample id", "S-0042"),
        ("Slide id", "SL-7"),
        ("Operator", "A. Tech"),
        ("Rig", "simulated deep-UV rig"),
        ("Scanned", "2026-12-01 10:50 +01:00"),  # 09:50 UTC in the lab's local time
    ):
        assert re.search(rf'<span class="k">{key}</span> {re.escape(value)}', page), key
    assert "<title>uvscope report: S-0042: white-cell differential</title>" in page


def test_command_line_values_override_the_scan_file(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, HEALTHY, sample={"id": "S-1", "operator": "A"}, images=False)
    page = write_report(scan, sample_id="S-2", operator="B").read_text()
    assert '<span class="k">Sample id</span> S-2' in page
    assert '<span class="k">Operator</span> B' in page
    assert '<span class="k">Slide id</span> <span class="blank">not given</span>' in page


def test_use_notice_says_research_use_and_simulated_training(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, HEALTHY, images=False)
    page = write_report(scan).read_text()
    notice = page[page.index('<div class="notice">') :].split("</div>")[0]
    assert "research use only" in notice
    assert "trained on simulated images only" in notice
    # weights that are not the shipped ones: no simulated-data claim
    import json

    dpath = scan / "analysis" / "differential.json"
    doc = json.loads(dpath.read_text())
    for key in [k for k in doc["models"] if k.endswith("_card")]:
        doc["models"][key]["sha256"] = "0" * 64
    dpath.write_text(json.dumps(doc))
    page = write_report(scan).read_text()
    notice = page[page.index('<div class="notice">') :].split("</div>")[0]
    assert "research use only" in notice and "simulated" not in notice


def test_fewer_than_100_wbcs_is_flagged_and_plurals_are_right(tmp_path: Path) -> None:
    page = write_report(make_scan(tmp_path, ["neutrophil"], images=False)).read_text()
    assert _flag(page, "WBCs counted") == "flag: 1 healthy WBC"
    assert "1 healthy WBCs" not in page
    many = make_scan(tmp_path / "b", HEALTHY + ["basophil"], images=False)
    assert _flag(write_report(many).read_text(), "WBCs counted") == "ok: 100 healthy WBCs"


def test_low_confidence_and_dead_shares_are_flagged(tmp_path: Path) -> None:
    classes = HEALTHY + ["dead"] * 20
    page = write_report(make_scan(tmp_path, classes, low_confidence=15, images=False)).read_text()
    assert _flag(page, "low-confidence cells").startswith("flag: 15 of 119 cells found (13 %)")
    assert _flag(page, "dead cells") == "flag: 20 of 119 cells found (17 %)"
    page = write_report(make_scan(tmp_path / "b", HEALTHY, low_confidence=5, images=False))
    text = page.read_text()
    assert _flag(text, "low-confidence cells").startswith("ok: 5 of 99 cells found")
    assert _flag(text, "dead cells") == "ok: 0 of 99 cells found (0 %)"


def test_a_report_written_while_the_manifest_says_running_does_not_say_running(
    tmp_path: Path,
) -> None:
    for status in ("running", "writing-mosaic"):
        scan = make_scan(tmp_path / status, HEALTHY, status=status, images=False)
        page = write_report(scan).read_text()
        assert status not in page
        assert "3 of 3 tiles analysed" in page
    scan = make_scan(tmp_path / "ab", HEALTHY, status="aborted", images=False)
    assert "3 of 3 tiles analysed; scan aborted" in write_report(scan).read_text()


def test_classes_outside_the_differential_are_reported_apart(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, HEALTHY, images=False)
    review(scan, [("t00000c0000", "neutrophil", "blast"),
                  ("t00001c0001", "neutrophil", "band_neutrophil"),
                  ("t00002c0002", "neutrophil", "smudge")])  # fmt: skip
    page = write_report(scan).read_text()
    m = re.search(r"<th>healthy WBCs</th><th>(\d+)</th>", page)
    # a blast and a band are white cells in the 100 % (their own rows); a smudge cell leaves it
    assert m and m.group(1) == "98"
    assert '<table class="outside">' not in page  # only artefact / unidentified go there
    line = page[page.index('<p class="preclass">') :].split("</p>")[0]
    assert re.findall(r"<b>([a-z ]+)</b> (\d+) \(", line) == [
        ("band neutrophil", "1"), ("blast", "1"),
        ("nucleated red cells", "0"), ("smudge cells", "1"),
    ]  # fmt: skip
    assert _flag(page, "WBCs counted") == "flag: 98 healthy WBCs"  # the reviewed count


def test_sign_off_is_shown_and_voided_by_a_later_change(tmp_path: Path, berlin) -> None:
    scan = make_scan(tmp_path, HEALTHY, images=False)
    review(scan, [("t00000c0000", "neutrophil", "lymphocyte")])
    when = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    record = sign_off(scan, "  Dr. Rivera ", now=when)
    assert record.operator == "Dr. Rivera" and record.reviewed_cells == 1
    page = write_report(scan).read_text()
    assert "signed off in uvscope by <b>Dr. Rivera</b> at 2026-12-01 13:30 +01:00" in page
    assert "(1 cell reclassified)" in page
    assert "Reviewed by (name)" in page and "Signature" in page
    review(scan, [("t00000c0000", "neutrophil", "monocyte")])
    assert load_reviewed_labels(scan)["t00000c0000"].reviewed == "monocyte"
    page = write_report(scan).read_text()
    assert "was changed afterwards" in page and "by <b>Dr. Rivera</b>" not in page


def test_every_percent_on_page_one_names_its_denominator(tmp_path: Path) -> None:
    """Reviewed blasts count in the 100 %: the class rows with the pre-classified row add up
    to the healthy-WBC total, and the page says which count every percent is of."""
    scan = make_scan(tmp_path, HEALTHY + ["neutrophil"] + ["dead"] * 4, images=False)
    review(scan, [("t00000c0000", "neutrophil", "blast"), ("t00001c0001", "neutrophil", "blast")])
    page = write_report(scan).read_text()
    table = page[page.index('<table class="diff compare">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>(?:<span[^>]*></span>)?([a-z ()-]+)</td><td>(\d+)</td>", table)
    counted = {name: int(n) for name, n in rows}
    total = int(re.search(r"<th>healthy WBCs</th><th>(\d+)</th><th>100</th>", table).group(1))
    assert counted["pre-classified (below)"] == 2 and counted["neutrophil"] == 59
    assert sum(n for k, n in counted.items() if not k.startswith("dead")) == total == 100
    assert "Every % above and below is of the 100 healthy WBCs" in page
    assert _flag(page, "dead cells").startswith("ok: 4 of 104 cells found")
    assert "<b>blast</b> 2 (2.0 %" in page  # the pre-classified paragraph: of the same 100


def test_sign_off_needs_a_name(tmp_path: Path) -> None:
    from uvscope.errors import StorageError

    scan = make_scan(tmp_path, HEALTHY, images=False)
    with pytest.raises(StorageError, match="operator's name"):
        sign_off(scan, "   ")


def test_provenance_goes_to_a_linked_file_not_into_the_report(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, HEALTHY, images=False)
    report = write_report(scan)
    page = report.read_text()
    prov = (report.parent / PROVENANCE_NAME).read_text()
    assert f'<a href="{PROVENANCE_NAME}">' in page
    assert "&quot;history&quot;" in prov and "Model card: classifier" in prov  # full cards
    assert "history" not in page and "epochs" not in page
    assert len(page) < len(prov)
    out = tmp_path / "elsewhere" / "r.html"
    out.parent.mkdir()
    write_report(scan, out)
    assert '<a href="r.html">' in (out.parent / PROVENANCE_NAME).read_text()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_prints_on_at_most_two_pages(tmp_path: Path) -> None:
    """Hundreds of cells, all classes, 40 reviewed cells, model cards: still <= 2 A4 pages."""
    classes = (HEALTHY * 3) + ["basophil"] * 4 + ["dead"] * 30
    scan = make_scan(tmp_path, classes, low_confidence=40, tiles=3)
    review(scan, [(f"t{i % 3:05d}c{i:04d}", classes[i], "blast") for i in range(40)])
    sign_off(scan, "A. Tech")
    report = write_report(scan)
    pages = printed_pages(report)
    assert pages == 2, f"the report prints on {pages} pages"


def test_report_command_takes_sample_slide_and_operator(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from uvscope.cli import main

    scan = make_scan(tmp_path, HEALTHY, sample={"id": "from-file"}, images=False)
    r = CliRunner().invoke(
        main, ["report", str(scan), "--sample", "S-77", "--slide", "B-1", "--operator", "Kim"]
    )
    assert r.exit_code == 0, r.output
    page = (scan / "analysis" / "report.html").read_text()
    assert '<span class="k">Sample id</span> S-77' in page and "from-file" not in page
    assert '<span class="k">Slide id</span> B-1' in page
    assert '<span class="k">Operator</span> Kim' in page
    assert (scan / "analysis" / PROVENANCE_NAME).exists()


def test_automatic_and_reviewed_charts_share_one_scale(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, HEALTHY, images=False)
    review(scan, [(f"t{i % 3:05d}c{i:04d}", "neutrophil", "lymphocyte") for i in range(0, 30, 3)])
    page = write_report(scan).read_text()
    svgs = re.findall(r"<svg.*?</svg>", page)
    assert len(svgs) == 2
    tops = [max(int(t) for t in re.findall(r">(\d+)%</text>", svg)) for svg in svgs]
    assert tops[0] == tops[1]
