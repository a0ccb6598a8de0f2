"""The worklist: the scans in a folder, as a review station lists its slides.

``list_scans`` reads only small files (each scan's manifest, differential and sign-off), so a
folder of a few hundred scans lists in a moment; the dialog shows sample id, date (local
time), status, WBCs counted and the sign-off, and opens the chosen scan for review.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from uvscope.errors import StorageError
from uvscope.localtime import local_text, parse_time

COLUMNS = ("Sample id", "Slide id", "Date", "Status", "WBCs", "Signed off", "Folder")


@dataclass(frozen=True)
class WorklistEntry:
    folder: Path
    sample_id: str
    slide_id: str
    created: str  #: ISO 8601 as the manifest has it
    status: str
    wbcs: int | None  #: healthy WBCs counted (None: not analysed)
    signed: str  #: "" never; the signer's name and time; or a note that it is void

    def cells(self) -> tuple[str, ...]:
        return (
            self.sample_id or "(no id)",
            self.slide_id,
            local_text(self.created),
            self.status,
            "" if self.wbcs is None else str(self.wbcs),
            self.signed or "no",
            self.folder.name,
        )


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _signed(folder: Path) -> str:
    from uvscope.analysis.review import load_signoff, signoff_is_current

    try:
        record = load_signoff(folder)
    except StorageError:
        return "unreadable sign-off"
    if record is None:
        return ""
    text = f"{record.operator}, {local_text(record.time)}"
    return text if signoff_is_current(folder, record) else f"VOID (changed after): {text}"


def read_entry(folder: Path) -> WorklistEntry | None:
    """The worklist line of one scan folder; None when it holds no uvscope scan."""
    manifest = _json(folder / "manifest.json")
    if manifest is None or "config" not in manifest:
        return None
    sample = (manifest.get("config") or {}).get("sample") or {}
    diff = _json(folder / "analysis" / "differential.json")
    wbcs = None
    if diff is not None:
        wbcs = int((diff.get("differential") or {}).get("healthy", 0))
    status = str(manifest.get("status", "unknown"))
    if diff is None and status == "complete":
        status = "complete, not analysed"
    return WorklistEntry(
        folder=folder,
        sample_id=str(sample.get("id", "")),
        slide_id=str(sample.get("slide_id", "")),
        created=str(manifest.get("created", "")),
        status=status,
        wbcs=wbcs,
        signed=_signed(folder),
    )


def list_scans(root: str | Path) -> list[WorklistEntry]:
    """The scans in ``root`` (and ``root`` itself when it is one), newest first."""
    root = Path(root)
    if not root.is_dir():
        raise StorageError(f"{root} is not a folder: choose the folder your scans are saved in")
    folders = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    entries = [e for e in (read_entry(f) for f in folders) if e is not None]

    def newest(e: WorklistEntry) -> float:
        t = parse_time(e.created)
        return t.timestamp() if t is not None else 0.0

    return sorted(entries, key=newest, reverse=True)


class WorklistDialog(QDialog):
    """Lists the scans of a folder; ``open_requested(Path)`` when one is opened."""

    open_requested = Signal(object)

    def __init__(self, folder: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Worklist: scans to review")
        self.resize(980, 520)
        self.entries: list[WorklistEntry] = []
        self.folder_edit = QLineEdit(str(folder) if folder else "")
        self.folder_edit.setPlaceholderText("folder that holds the scan folders")
        self.folder_edit.returnPressed.connect(self.refresh)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(QLabel("Folder"))
        top.addWidget(self.folder_edit, 1)
        top.addWidget(browse)
        top.addWidget(refresh)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(lambda row, _col: self._open_row(row))
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.open_button = QPushButton("Open for review")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(lambda: self._open_row(self.table.currentRow()))
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.open_button)
        bottom.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(bottom)
        if folder is not None:
            self.refresh()

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of scans", self.folder_edit.text())
        if d:
            self.folder_edit.setText(d)
            self.refresh()

    def refresh(self) -> None:
        try:
            self.entries = list_scans(Path(self.folder_edit.text().strip() or "."))
        except StorageError as err:
            self.entries = []
            self.message.setText(str(err))
        else:
            n = len(self.entries)
            self.message.setText(f"{n} scan{'s' if n != 1 else ''}; double-click one to review it")
        self.table.setRowCount(len(self.entries))
        for r, entry in enumerate(self.entries):
            for c, text in enumerate(entry.cells()):
                item = QTableWidgetItem(text)
                if COLUMNS[c] == "WBCs":
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                item.setToolTip(str(entry.folder))
                self.table.setItem(r, c, item)
        if self.entries:
            self.table.selectRow(0)

    def _open_row(self, row: int) -> None:
        if 0 <= row < len(self.entries):
            self.open_requested.emit(self.entries[row].folder)
            self.accept()
