"""The WBC differential as a table and a bar chart with 95 % confidence intervals."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QResizeEvent
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from uvscope.analysis.reference import ReferenceResult
from uvscope.gui.results import WBC_CLASSES, DisplayDifferential
from uvscope.gui.style import class_color

COLUMNS: tuple[str, ...] = ("Count", "%", "95 % CI", "/µL", "Ref. %", "")
#: H in red, L in blue, as analysers print them
MARK_COLOURS = {"H": "#c0392b", "L": "#1f5fbf"}


class DifferentialView(QWidget):
    """Shows one DisplayDifferential; ``show_differential`` replaces it (cheap: five rows,
    five bars)."""

    def __init__(self, classes: tuple[str, ...] = WBC_CLASSES, parent: QWidget | None = None):
        super().__init__(parent)
        self.classes = classes
        self.summary = QLabel("No cells counted yet")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(len(classes), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setColumnHidden(COLUMNS.index("/µL"), True)  # until a WBC count is given
        self.table.setVerticalHeaderLabels([c.capitalize() for c in classes])  # report order
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(COLUMNS.index("95 % CI"), QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # all five rows always visible: the chart below takes what height is left
        self.table.setFixedHeight(
            self.table.horizontalHeader().sizeHint().height()
            + self.table.verticalHeader().length()
            + 2 * self.table.frameWidth()
        )
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(160)
        # the chart takes what the class list above and the table leave (its own size hint
        # would squeeze the list into a scroll box)
        self.plot.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.plot.setLabel("left", "% of WBCs")
        self.plot.setYRange(0, 100)
        self.plot.setMouseEnabled(False, False)
        ax = self.plot.getAxis("bottom")
        ax.setTicks([[(i, c[:4].capitalize()) for i, c in enumerate(classes)]])
        x = np.arange(len(classes), dtype=float)
        brushes = [pg.mkBrush(class_color(c)) for c in classes]
        self.bars = pg.BarGraphItem(x=x, height=np.zeros(len(classes)), width=0.6, brushes=brushes)
        self.errors = pg.ErrorBarItem(
            x=x,
            y=np.zeros(len(classes)),
            top=np.zeros(len(classes)),
            bottom=np.zeros(len(classes)),
            beam=0.25,
            pen=pg.mkPen("k"),
        )
        self.plot.addItem(self.bars)
        self.plot.addItem(self.errors)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.summary)
        lay.addWidget(self.table)
        #: bands are in the neutrophil row for the reference check; said apart here
        self.bands_label = QLabel("")
        self.bands_label.setWordWrap(True)
        self.bands_label.setVisible(False)
        lay.addWidget(self.bands_label)
        lay.addWidget(self.plot, 1)
        self.current: DisplayDifferential | None = None

    def show_differential(
        self, diff: DisplayDifferential, reviewed: int = 0, outside: int = 0
    ) -> None:
        """``reviewed``: cells reclassified; ``outside``: set aside by the reviewer (artefact,
        unidentified). The percentages are of the 100 % that holds the pre-classes."""
        self.current = diff
        pct = np.array([diff.percentages.get(c, 0.0) for c in self.classes])
        lo = np.array([diff.ci95.get(c, (0.0, 0.0))[0] for c in self.classes])
        hi = np.array([diff.ci95.get(c, (0.0, 0.0))[1] for c in self.classes])
        for i, c in enumerate(self.classes):
            cells = (str(diff.counts.get(c, 0)), f"{pct[i]:.1f}", f"{lo[i]:.1f} - {hi[i]:.1f}")
            for j, text in enumerate(cells):  # the reference columns: show_reference
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        self.bars.setOpts(height=pct)
        # the scale follows the tallest interval (rare classes stay readable), 0-100 at most
        top = float(hi.max()) if diff.total else 100.0
        self.plot.setYRange(0, min(100.0, max(20.0, 10.0 * np.ceil(top * 1.05 / 10.0))))
        self.errors.setData(
            x=np.arange(len(self.classes), dtype=float),
            y=pct,
            top=np.maximum(hi - pct, 0),
            bottom=np.maximum(pct - lo, 0),
        )
        wbcs = "WBC" if diff.total == 1 else "WBCs"
        dead = "dead cell" if diff.dead == 1 else "dead cells"
        text = f"{diff.total} {wbcs} counted, {diff.dead} {dead} excluded"
        if reviewed:
            text += f"; {reviewed} reclassified by review"
        if diff.preclasses:
            listed = ", ".join(
                f"{name.replace('_', ' ')} {n}" for name, n in sorted(diff.preclasses.items())
            )
            text += f"; pre-classified: {listed} (nrbc and smudge outside the 100 %)"
        if outside:
            text += f"; {outside} set aside (artefact, unidentified)"
        self.summary.setText(text)
        self._hold_height()

    def _hold_height(self) -> None:
        """The summary, the whole table, the bands line and 160 px of chart stay clear of
        each other: the class list above gives up height first (the chart alone would
        have taken the list's; a layout may squeeze a wrapped text's lines otherwise)."""
        w = max(1, self.width())
        parts = [self.summary.heightForWidth(w), self.table.height(), self.plot.minimumHeight()]
        if not self.bands_label.isHidden():
            parts.append(self.bands_label.heightForWidth(w))
        lay = self.layout()
        spacing = max(0, lay.spacing()) if lay is not None else 0
        self.setMinimumHeight(sum(max(0, h) for h in parts) + spacing * (len(parts) - 1))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._hold_height()  # the wrapped lines follow the width

    def _fit_width(self) -> None:
        """Wide enough for every column (the splitter then gives the table its room: no
        "..." for a number a reader needs)."""
        self.table.resizeColumnsToContents()
        head = self.table.horizontalHeader()
        ci = COLUMNS.index("95 % CI")
        width = sum(
            max(head.sectionSizeHint(i), self.table.sizeHintForColumn(i))
            for i in range(len(COLUMNS))
            if not self.table.isColumnHidden(i)
        )
        if not self.table.isColumnHidden(ci):
            width += 8
        self.table.setMinimumWidth(
            width + self.table.verticalHeader().sizeHint().width() + 2 * self.table.frameWidth()
        )

    def clear(self) -> None:
        """Nothing counted: empty table and bars (a new slide starts from nothing)."""
        self.current = None
        self.table.clearContents()
        zeros = np.zeros(len(self.classes))
        self.bars.setOpts(height=zeros)
        x = np.arange(len(self.classes), dtype=float)
        self.errors.setData(x=x, y=zeros, top=zeros, bottom=zeros)
        self.plot.setYRange(0, 100)
        self.show_reference(None)
        self.summary.setText("No cells counted yet")
        self._hold_height()

    def show_reference(self, result: ReferenceResult | None, source: str = "") -> None:
        """The reference interval and H/L mark of each class (absolute counts when the WBC
        count is known); bands, counted with the neutrophils there, on their own line."""
        absolute = result is not None and any(r.per_ul is not None for r in result.rows.values())
        self.table.setColumnHidden(COLUMNS.index("/µL"), not absolute)
        for i, c in enumerate(self.classes):
            row = result.rows.get(c) if result is not None else None
            per_ul = f"{row.per_ul:,.0f}" if row is not None and row.per_ul is not None else ""
            ref = row.reference if row is not None else ""
            mark = row.mark if row is not None else ""
            for col, text in (("/µL", per_ul), ("Ref. %", ref), ("", mark)):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col == "" and mark:
                    item.setForeground(QColor(MARK_COLOURS[mark]))
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                    item.setToolTip("above the reference interval" if mark == "H" else "below it")
                if col == "Ref. %" and source:
                    item.setToolTip(f"reference interval: {source}")
                self.table.setItem(i, COLUMNS.index(col), item)
        self._fit_width()
        bands = result.bands if result is not None else None
        self.bands_label.setVisible(bands is not None)
        if bands is not None and result is not None:
            neut = result.rows["neutrophil"]
            self.bands_label.setText(
                f"Bands: {bands.count} ({bands.percent:.1f} % of {result.denominator} WBCs"
                f"{', ' + bands.mark if bands.mark else ''}), counted with the neutrophils for "
                f"the reference check: neutrophils {neut.percent:.1f} % {neut.mark}".rstrip()
            )
        self._hold_height()
