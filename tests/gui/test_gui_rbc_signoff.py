"""The sign-off covers the red-cell review: a red cell reclassified after it voids it, with the
banner a reclassified white cell raises."""

from __future__ import annotations

from tests.gui.test_gui_review_safety import _panel
from tests.report._report_fixture import make_scan
from uvscope.analysis.rbc_review import SmearObject, save_reviewed_rbc


def _obj(oid: str) -> SmearObject:
    return SmearObject(oid, 0, 1.0, 2.0, "sickle", 12.0, 0.5, "")


def test_a_red_cell_reclassified_after_sign_off_voids_it(qtbot, tmp_path):
    scan = make_scan(tmp_path, ["neutrophil"] * 6, images=False)
    panel = _panel(qtbot, scan)
    panel.operator_edit.setText("Dr Rivera")
    with qtbot.waitSignal(panel.report_written, timeout=10_000):
        panel.sign_off()
    assert panel.signed_current
    path = save_reviewed_rbc(scan, [(_obj("t00000r00001"), "normal")])
    panel.on_red_cell_review_saved(str(path))  # what the red-cell view's review_saved calls
    assert not panel.signed_current
    assert "no longer covers these numbers" in panel.signoff_banner.text()
    assert "red-cell change voids the sign-off" in panel.saved_label.text()
    save_reviewed_rbc(scan, [])  # back as signed: an empty review file is not "as signed"
    panel.on_red_cell_review_saved()
    assert not panel.signed_current
    with qtbot.waitSignal(panel.report_written, timeout=10_000):
        panel.sign_off()  # signed again over the red-cell review
    assert panel.signed_current
