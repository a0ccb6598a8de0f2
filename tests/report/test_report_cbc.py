"""The report's "Red cells and platelets" section, from cbc.json and the gallery crops."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from uvscope.analysis.cbc import CbcAccumulator
from uvscope.analysis.platelets import PlateletRecord
from uvscope.analysis.rbc import RbcRecord
from uvscope.analysis.review import sign_off
from uvscope.analysis.smear import GalleryCrop, SmearTile
from uvscope.classes import RBC_CLASSES
from uvscope.report.page import write_report

from ._report_fixture import make_scan, printed_pages, review

HEALTHY = ["neutrophil"] * 60 + ["lymphocyte"] * 30 + ["monocyte"] * 6 + ["eosinophil"] * 3


def _rbc(i: int, hb: float, d: float, morph: str, overlapped: bool = False) -> RbcRecord:
    area = np.pi * d * d / 4
    return RbcRecord(
        f"t00000r{i:05d}", 0, float(i), 0.0, area, d, d, d, 0.1, 1.0, 0.95, 0.85, 0.5,
        float("nan") if overlapped else hb, hb, overlapped, False, "" if overlapped else morph,
        True,
    )  # fmt: skip


def smear_tile(n: int = 3000, platelets: int = 40, seed: int = 0) -> SmearTile:
    """A tile of ``n`` red cells (3 % of each abnormal class) and ``platelets`` platelets."""
    rng = np.random.default_rng(seed)
    classes = rng.choice(list(RBC_CLASSES), n, p=[0.85, 0.03, 0.03, 0.03, 0.03, 0.03])
    st = SmearTile(index=0)
    for i in range(n):
        st.rbcs.append(
            _rbc(i, rng.normal(29, 3), rng.normal(7.3, 0.45), str(classes[i]), i % 7 == 0)
        )
    for j in range(platelets):
        st.platelets.append(
            PlateletRecord(
                f"t00000p{j:05d}", 0, 0.0, 0.0, 4.0, 0.3, j % 10 == 0, 1 + (j % 10 == 0), True
            )
        )
    for name in (*RBC_CLASSES[1:], "platelet_clump"):
        for k in range(6):
            st.gallery.append(
                GalleryCrop(name, f"{name}{k}", rng.uniform(0, 0.2, (30, 30)).astype(np.float32))
            )
    st.platelet_visible_fraction = 0.6
    return st


def write_cbc(scan: Path, background: bool = True) -> dict:
    acc = CbcAccumulator()
    acc.add(smear_tile())
    doc = acc.document(None, None, background_usable=background)
    a = scan / "analysis"
    (a / "cbc.json").write_text(json.dumps(doc))
    np.savez_compressed(
        a / "rbc_gallery.npz", **{f"{g.kind}__{g.object_id}": g.od for g in acc.gallery}
    )
    return doc


def test_section_shows_indices_histograms_flags_and_gallery(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, HEALTHY)
    doc = write_cbc(scan)
    page = write_report(scan).read_text()
    assert "Red cells and platelets" in page and "validated on simulated smears only" in page
    assert f"{doc['haemoglobin']['mch_pg']:.1f} pg" in page
    assert f"{doc['size']['mean_diameter_um']:.2f} um" in page
    assert page.count('aria-label="haemoglobin per cell (pg)"') == 1
    assert page.count('aria-label="diameter (um)"') == 1
    for f in doc["flags"]:
        assert f["message"] in page
    assert {"sickle_cells", "schistocytes"} <= {f["code"] for f in doc["flags"]}
    # 2 crops per abnormal class and for clumps, each an embedded PNG in the section
    section = page[page.index("Red cells and platelets") :]
    assert len(re.findall(r'<div><img src="data:image/png', section)) == 2 * 6


def test_without_a_background_the_section_prints_no_haemoglobin_number(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, HEALTHY)
    doc = write_cbc(scan, background=False)
    assert doc["haemoglobin"]["mch_pg"] is None
    page = write_report(scan).read_text()
    row = re.search(r"<td>MCH</td><td>([^<]*)<", page)
    assert row and row.group(1) == "not measured"
    assert "no usable background" in page
    assert "haemoglobin per cell (pg)" not in page  # no histogram either


def test_no_cbc_json_no_section(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, HEALTHY)
    assert "Red cells and platelets" not in write_report(scan).read_text()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_with_the_section_prints_on_at_most_two_pages(tmp_path: Path) -> None:
    """A normal slide: 200 WBCs of every class, a few reviewed, the section with its flags,
    histograms and gallery, signed off: still 2 A4 pages (the third was 85 % blank)."""
    classes = (HEALTHY * 2) + ["basophil"] * 2 + ["dead"] * 6
    scan = make_scan(tmp_path, classes, low_confidence=10, tiles=3)
    review(scan, [(f"t{i % 3:05d}c{i:04d}", classes[i], "blast") for i in range(5)])
    write_cbc(scan)
    sign_off(scan, "A. Tech")
    report = write_report(scan)
    pages = printed_pages(report)
    assert pages == 2, f"the report prints on {pages} pages"


def test_sickle_cells_read_in_groups_are_shown_beside_the_whole_cells(tmp_path: Path) -> None:
    scan = make_scan(tmp_path, HEALTHY)
    st = smear_tile()
    st.sickle_in_groups = 50
    acc = CbcAccumulator()
    acc.add(st)
    doc = acc.document(None, None)
    (scan / "analysis" / "cbc.json").write_text(json.dumps(doc))
    everyone = doc["morphology"]["sickle_all_cells"]
    whole = doc["morphology"]["classes"]["sickle"]
    assert everyone["in_groups"] == 50 and everyone["whole"] == whole["count"]
    assert everyone["percent"] > whole["percent"]
    page = write_report(scan).read_text()
    assert f"{everyone['percent']:.1f} %" in page and "50 read in groups" in page
