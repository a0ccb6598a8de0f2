"""H/L marks in the differential table and the findings banner: a reviewer's blast is a
critical finding at once, bands count with the neutrophils, absolute counts on request."""

from __future__ import annotations

from tests.gui.test_gui_review import _cell, _thumbs
from uvscope.gui.differential_view import COLUMNS
from uvscope.gui.results import differential_from_labels
from uvscope.gui.results_panel import ResultsPanel

LABELS = ["neutrophil"] * 12 + ["lymphocyte"] * 6 + ["monocyte"] * 2


def _panel(qtbot, tmp_path) -> ResultsPanel:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.show()
    panel.reset(tmp_path, analysed=True)
    cells = [_cell(f"t00000c{i:04d}", cls, 0.9, x_um=1000.0 + i) for i, cls in enumerate(LABELS)]
    panel.add_cells(_thumbs(cells))
    panel.show_analysis_differential(differential_from_labels(LABELS))
    return panel


def _cell_text(panel: ResultsPanel, cls: str, column: str) -> str:
    row = panel.differential.classes.index(cls)
    item = panel.differential.table.item(row, COLUMNS.index(column))
    return item.text() if item is not None else ""


def test_marks_follow_the_counts_and_a_blast_raises_the_critical_banner(qtbot, tmp_path):
    panel = _panel(qtbot, tmp_path)
    # 60 % neutrophils, 30 % lymphocytes, 10 % monocytes: all inside the adult intervals
    assert _cell_text(panel, "neutrophil", "Ref. %") == "40-80"
    assert {_cell_text(panel, c, "") for c in ("neutrophil", "lymphocyte", "monocyte")} == {""}
    assert not panel.flags_banner.isVisible()
    for i in range(12, 15):  # three lymphocytes were monocytes: 15 % monocytes
        panel.gallery.reclassify(f"t00000c{i:04d}", "monocyte")
    assert _cell_text(panel, "monocyte", "") == "H"
    assert panel.flags_banner.isVisible() and not panel.flags_banner.critical
    panel.gallery.reclassify("t00000c0015", "blast")
    assert panel.flags_banner.critical
    assert panel.flags_banner.text().startswith("<b>CRITICAL: Blasts seen: 1")
    assert "#c0392b" in panel.flags_banner.styleSheet()
    panel.gallery.reclassify("t00000c0015", "lymphocyte")  # the reviewer changes their mind
    assert not panel.flags_banner.critical


def test_bands_count_with_neutrophils_and_are_shown_apart(qtbot, tmp_path):
    panel = _panel(qtbot, tmp_path)
    for i in range(4):  # 4 of the 12 neutrophils are bands: 20 % bands, neutrophils still 60 %
        panel.gallery.reclassify(f"t00000c{i:04d}", "band_neutrophil")
    result = panel.reference_result
    assert result is not None and result.rows["neutrophil"].count == 12
    assert result.rows["neutrophil"].mark == ""
    assert panel.differential.bands_label.isVisible()
    assert panel.differential.bands_label.text().startswith("Bands: 4 (20.0 % of 20 WBCs, H)")
    assert [f.code for f in panel.flags_banner.flags] == ["band_neutrophil_high"]


def test_a_wbc_count_gives_absolute_counts_and_their_marks(qtbot, tmp_path):
    panel = _panel(qtbot, tmp_path)
    column = COLUMNS.index("/µL")
    assert panel.differential.table.isColumnHidden(column)
    panel.wbc_count.setValue(15_000)  # 60 % of 15,000: 9,000 neutrophils per uL, above 7,000
    assert not panel.differential.table.isColumnHidden(column)
    assert _cell_text(panel, "neutrophil", "/µL") == "9,000"
    assert _cell_text(panel, "neutrophil", "") == "H"
    panel.wbc_count.setValue(0)
    assert _cell_text(panel, "neutrophil", "") == ""
