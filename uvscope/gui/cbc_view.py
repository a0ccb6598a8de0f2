"""The red-cell indices, platelet and WBC estimates, flags and histograms of one ``cbc.json``.

The numbers are those the report prints, each with its interval; an index that was not
measured (no usable background for haemoglobin, too few whole cells) says why instead of
showing a number. Flags come critical first, each with the rule that raised it.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from uvscope.analysis.flags import Flag, ordered
from uvscope.classes import RBC_CLASSES

#: the rows of the indices table, in the report's order
INDEX_ROWS: tuple[str, ...] = (
    "Red cells",
    "MCH (pg)",
    "Hb width (CV %)",
    "Diameter (um)",
    "RDW-like (CV %)",
    "PLT / 1,000 RBC",
    "PLT / uL",
    "PLT clumps",
    "WBC / 1,000 RBC",
    "WBC / uL",
)


def with_interval(value: Any, ci: Any, fmt: str = "{:.1f}") -> str:
    """``12.3 (11.9-12.8)``; a dash where there is no number."""
    if value is None:
        return "-"
    text = fmt.format(value)
    if ci and ci[0] is not None and ci[1] is not None:
        text += f" ({fmt.format(ci[0])}-{fmt.format(ci[1])})"
    return text


def _thousands(value: Any, ci: Any = None) -> str:
    """A count per uL in thousands, as a CBC prints it (``x 10^3``)."""
    if value is None:
        return "-"
    scaled = [None if v is None else v / 1e3 for v in (ci or [])]
    return with_interval(value / 1e3, scaled, "{:.0f}") + " x10^3"


def index_values(doc: dict[str, Any]) -> list[str]:
    """The text of each row of ``INDEX_ROWS`` for one ``cbc.json``."""
    hb = doc.get("haemoglobin") or {}
    size = doc.get("size") or {}
    plt = doc.get("platelets") or {}
    wbc = doc.get("white_cells") or {}
    if hb.get("measured"):
        mch = with_interval(hb.get("mch_pg"), hb.get("mch_ci_pg"))
        hb_width = with_interval(hb.get("hb_width_cv_percent"), None)
    else:
        mch = hb_width = "not measured"
    overlapped = doc.get("red_cells_overlapped", 0)
    return [
        f"{doc.get('red_cells_counted', 0)} ({overlapped} overlapped)",
        mch,
        hb_width,
        with_interval(size.get("mean_diameter_um"), size.get("mean_diameter_ci_um"), "{:.2f}"),
        with_interval(size.get("rdw_cv_percent"), None),
        with_interval(plt.get("per_1000_rbc"), plt.get("per_1000_rbc_ci")),
        _thousands(plt.get("per_ul"), plt.get("per_ul_ci")),
        f"{plt.get('clumps', 0)} ({plt.get('platelets_in_clumps', 0)} platelets)",
        with_interval(wbc.get("per_1000_rbc"), None, "{:.2f}"),
        _thousands(wbc.get("per_ul")),
    ]


def flags_html(doc: dict[str, Any]) -> str:
    """The flags, critical first, each with its rule; a plain line when there are none."""
    flags = ordered(Flag.from_dict(f) for f in doc.get("flags") or [])
    if not flags:
        return "No red-cell or platelet flags."
    lines = []
    for f in flags:
        colour = "#b00000" if f.critical else "#8a5a00"
        mark = "CRITICAL: " if f.critical else ""
        lines.append(
            f"<p style='margin:2px'><b style='color:{colour}'>{mark}{html.escape(f.message)}</b>"
            f"<br><small>rule: {html.escape(f.rule)}</small></p>"
        )
    return "".join(lines)


def _table(rows: int, cols: int, header: list[str]) -> QTableWidget:
    t = QTableWidget(rows, cols)
    t.setHorizontalHeaderLabels(header)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    t.verticalHeader().setDefaultSectionSize(t.verticalHeader().minimumSectionSize() + 4)
    t.setFixedHeight(
        t.horizontalHeader().sizeHint().height()
        + rows * t.verticalHeader().defaultSectionSize()
        + 2 * t.frameWidth()
    )
    return t


def _cell(table: QTableWidget, row: int, col: int, text: str) -> None:
    table.setItem(row, col, QTableWidgetItem(text))


class Histogram(pg.PlotWidget):  # type: ignore[misc]
    """Bars of one ``{"edges_...": [...], "counts": [...]}`` histogram of cbc.json."""

    def __init__(self, title: str, unit: str) -> None:
        super().__init__(background="w")
        self.setTitle(title, color="k", size="9pt")
        self.setLabel("bottom", unit)
        self.setLabel("left", "cells")
        self.setMouseEnabled(False, False)
        self.setMinimumHeight(150)
        self.bars: pg.BarGraphItem | None = None
        self.note = pg.TextItem("", color="k", anchor=(0.5, 0.5))
        self.addItem(self.note)

    def show_counts(self, edges: list[float] | None, counts: list[int] | None, why: str) -> None:
        """Draw the bars, or say ``why`` there are none."""
        if self.bars is not None:
            self.removeItem(self.bars)
            self.bars = None
        if not edges or not counts or not any(counts):
            self.note.setText(why)
            self.note.setPos(0.5, 0.5)
            self.setXRange(0, 1)
            self.setYRange(0, 1)
            return
        self.note.setText("")
        e = np.asarray(edges, float)
        c = np.asarray(counts, float)
        nz = np.nonzero(c)[0]
        lo, hi = e[max(nz[0] - 2, 0)], e[min(nz[-1] + 3, len(e) - 1)]
        self.bars = pg.BarGraphItem(
            x0=e[:-1], x1=e[1:], height=c, brush=pg.mkBrush(120, 60, 160), pen=pg.mkPen("w")
        )
        self.addItem(self.bars)
        self.setXRange(lo, hi, padding=0)
        self.setYRange(0, c.max() * 1.05, padding=0)

    def heights(self) -> list[float]:
        if self.bars is None:
            return []
        return [float(h) for h in self.bars.opts["height"]]


class CbcView(QWidget):
    """Indices with intervals, morphology shares (automatic and reviewed), flags."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.indices = _table(len(INDEX_ROWS), 1, ["Mean or count (95 % interval)"])
        self.indices.setToolTip(
            "MCH: mean haemoglobin mass per whole red cell; Hb width and RDW-like: the CV of "
            "haemoglobin mass and of diameter; PLT: platelets (clumps counted by their size); "
            "per uL from the sample's red-cell count"
        )
        self.indices.setVerticalHeaderLabels(list(INDEX_ROWS))
        self.shares = _table(len(RBC_CLASSES), 2, ["Analysis %", "Reviewed %"])
        self.shares.setVerticalHeaderLabels([c.capitalize() for c in RBC_CLASSES])
        self.flags = QLabel("")
        self.flags.setWordWrap(True)
        self.flags.setTextFormat(Qt.TextFormat.RichText)
        self.flags.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.status)
        lay.addWidget(self.flags)
        lay.addWidget(self.indices)
        title = QLabel("Morphology: % of whole red cells (95 % interval; cells: tooltip)")
        title.setWordWrap(True)
        lay.addWidget(title)
        lay.addWidget(self.shares)
        lay.addStretch(1)

    def show_nothing(self, text: str) -> None:
        """No figures (not analysed, or not yet): say so, and leave every number blank."""
        self.status.setText(text)
        self.flags.setText("")
        for r in range(self.indices.rowCount()):
            _cell(self.indices, r, 0, "-")
        for r in range(self.shares.rowCount()):
            _cell(self.shares, r, 0, "-")
            _cell(self.shares, r, 1, "-")

    def show_cbc(self, doc: dict[str, Any]) -> None:
        hb = doc.get("haemoglobin") or {}
        problems = hb.get("problems") or []
        text = f"{doc.get('tiles', 0)} tiles analysed."
        if not hb.get("measured"):
            why = "; ".join(problems) or "too few whole red cells"
            text += f" Haemoglobin mass not measured: {why}."
        if doc.get("validated_on"):
            text += f" Validated on {doc['validated_on']}."
        self.status.setText(text)
        self.flags.setText(flags_html(doc))
        for r, value in enumerate(index_values(doc)):
            _cell(self.indices, r, 0, value)
        classes = (doc.get("morphology") or {}).get("classes") or {}
        self.show_shares(classes, 0)

    def show_shares(self, shares: dict[str, Any], column: int) -> None:
        """One column of the shares table: ``column`` 0 the analysis's, 1 the reviewed."""
        for r, name in enumerate(RBC_CLASSES):
            s = shares.get(name) or {}
            pct = s.get("percent")
            text = "-" if pct is None else with_interval(pct, s.get("ci_percent"))
            item = QTableWidgetItem(text)
            if pct is not None:
                item.setToolTip(f"{s.get('count', 0)} cells")
            self.shares.setItem(r, column, item)

    def text(self, row: str) -> str:
        """The shown value of one row of ``INDEX_ROWS`` (for tests and screen readers)."""
        item = self.indices.item(INDEX_ROWS.index(row), 0)
        return item.text() if item else ""


class Histograms(QWidget):
    """The haemoglobin-mass and diameter histograms side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hb = Histogram("Haemoglobin per cell", "pg")
        self.diameter = Histogram("Diameter", "um")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.hb)
        lay.addWidget(self.diameter)

    def show_cbc(self, doc: dict[str, Any] | None) -> None:
        hb = (doc or {}).get("haemoglobin") or {}
        size = (doc or {}).get("size") or {}
        hist = hb.get("histogram") or {}
        why = "not measured" if doc is not None else "not analysed"
        self.hb.show_counts(hist.get("edges_pg"), hist.get("counts"), why)
        hist = size.get("histogram") or {}
        self.diameter.show_counts(hist.get("edges_um"), hist.get("counts"), why)
