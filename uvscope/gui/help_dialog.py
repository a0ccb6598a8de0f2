"""Help (the README's operator section, in the window) and About (version, models).

The README is the one operator manual: read from the source checkout beside the package, or
from the installed package's metadata (pip stores the README as its long description), so
the in-app help never drifts from the written one.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

import uvscope

SECTION = "## The operator GUI"


def readme_text() -> str:
    """The README: the checkout's, else the installed package's description; "" if neither."""
    path = Path(uvscope.__file__).resolve().parents[1] / "README.md"
    if path.exists():
        return path.read_text(encoding="utf-8")
    try:
        return str(metadata.metadata("uvscope")["Description"] or "")
    except (metadata.PackageNotFoundError, KeyError):
        return ""


def operator_section(readme: str) -> str:
    """The operator GUI section of the README (to the next ``## `` heading)."""
    start = readme.find(SECTION)
    if start < 0:
        return ""
    end = readme.find("\n## ", start + len(SECTION))
    return readme[start : end if end >= 0 else len(readme)].strip()


def operator_guide() -> str:
    text = operator_section(readme_text())
    if not text:
        return (
            "# Operator guide\n\nThe README with the operator's section was not found in "
            "this installation; see the uvscope README where uvscope was obtained."
        )
    base = Path(uvscope.__file__).resolve().parents[1]
    # the screenshots are files beside the README: absolute links show them in the browser
    return text.replace("](docs/", f"]({base.as_uri()}/docs/")


def models_summary() -> list[str]:
    """One line per shipped network: kind, training data and weights hash (from its card)."""
    weights = Path(uvscope.__file__).resolve().parent / "models" / "weights"
    lines = []
    for card_path in sorted(weights.glob("*.json")):
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        sha = str(card.get("sha256", ""))[:12]
        arch = card.get("architecture") or {}
        name = arch.get("backbone") or card.get("kind") or card_path.stem
        data = card.get("data") or {}
        tiles = data.get("n_tiles") if isinstance(data, dict) else None
        lines.append(
            f"{card_path.stem} ({name}): weights sha256 {sha}"
            + (f", trained on {tiles} simulated tiles" if tiles else "")
        )
    return lines


def about_text() -> str:
    models = "".join(f"<li>{line}</li>" for line in models_summary()) or "<li>none shipped</li>"
    return (
        f"<h3>uvscope {uvscope.__version__}</h3>"
        "<p>Open control and analysis software for label-free deep-UV hematology "
        "microscopes. For research use only.</p>"
        "<p>Shipped models (trained on simulated images: retrain on real data):</p>"
        f"<ul>{models}</ul>"
    )


class HelpDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("uvscope help: the operator's guide")
        self.resize(900, 700)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(operator_guide())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser, 1)
        lay.addWidget(buttons)
