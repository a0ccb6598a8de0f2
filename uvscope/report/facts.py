"""What the report says about a scan, gathered once from the scan folder (no HTML here).

The header (who, what, when, on which rig), the quality flags and the use notice are
decisions, not layout, so they live here where a test can check them without parsing a page.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from uvscope.analysis.review import (  # noqa: F401 - LOW_CONFIDENCE_P used by report_images
    LOW_CONFIDENCE_P,
    ReviewedLabel,
    SignOff,
    load_reviewed_labels,
    load_signoff,
    signoff_is_current,
)
from uvscope.analysis.settings import CLASSES
from uvscope.errors import StorageError
from uvscope.io.plan_record import PlanRecord

#: fewer healthy WBCs than this and the differential is flagged (the routine manual count)
MIN_WBC = 100
#: flag the share of low-confidence cells above this
LOW_CONFIDENCE_SHARE = 0.10
#: flag the share of dead cells among all detected WBCs above this
DEAD_SHARE = 0.10
#: manifest states that mean the scan is over (the report written at the end of the
#: analysis sees "running" or "writing-mosaic": the scan is not over from the manifest's view)
FINAL_STATES = ("complete", "stopped-early", "aborted", "failed")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 cell``, ``2 cells``; ``many`` for irregular plurals."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


@dataclass(frozen=True)
class Flag:
    """One quality check: ``raised`` when it needs the reader's attention."""

    name: str
    value: str
    raised: bool
    advice: str


@dataclass(frozen=True)
class Sample:
    id: str = ""
    slide_id: str = ""
    operator: str = ""


@dataclass
class ReportFacts:
    scan_dir: Path
    manifest: dict[str, Any]
    doc: dict[str, Any]
    cells: list[dict[str, str]]
    reviewed: dict[str, ReviewedLabel]
    signoff: SignOff | None
    signoff_current: bool
    sample: Sample
    simulated_models: list[str] = field(default_factory=list)

    @property
    def diff(self) -> dict[str, Any]:
        return dict(self.doc["differential"])

    @property
    def rig_name(self) -> str:
        rig = self.manifest.get("rig") or {}
        return str(rig.get("name", "")) if isinstance(rig, dict) else str(rig)

    @property
    def scan_started(self) -> str:
        return str(self.manifest.get("created", ""))

    @property
    def tiles_planned(self) -> int | None:
        plan = PlanRecord.from_manifest(self.manifest)
        return plan.tiles if "tiles" in plan.raw else None

    @property
    def scan_state(self) -> str:
        """The scan's final state, or "" while the manifest still says it is running."""
        status = str(self.manifest.get("status", ""))
        return status if status in FINAL_STATES else ""


def load_facts(
    scan_dir: Path, sample_id: str | None, operator: str | None, slide_id: str | None
) -> ReportFacts:
    """Everything the report needs; ``sample_id`` etc. override the scan file's [sample]."""
    root = scan_dir / "analysis"
    dpath = root / "differential.json"
    if not dpath.exists():
        raise StorageError(
            f"{scan_dir} has no analysis results ({dpath} is missing); "
            f"run `uvscope analyze {scan_dir}` first"
        )
    doc = json.loads(dpath.read_text(encoding="utf-8"))
    manifest: dict[str, Any] = {}
    mpath = scan_dir / "manifest.json"
    if mpath.exists():
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    cells: list[dict[str, str]] = []
    cpath = root / "cells.csv"
    if cpath.exists():
        with open(cpath, newline="", encoding="utf-8") as fh:
            cells = list(csv.DictReader(fh))
    signoff = load_signoff(scan_dir)
    return ReportFacts(
        scan_dir=scan_dir,
        manifest=manifest,
        doc=doc,
        cells=cells,
        reviewed=load_reviewed_labels(scan_dir),
        signoff=signoff,
        signoff_current=signoff is not None and signoff_is_current(scan_dir, signoff),
        sample=_sample(manifest, sample_id, operator, slide_id),
        simulated_models=simulated_models(doc.get("models", {})),
    )


def _sample(
    manifest: dict[str, Any], sample_id: str | None, operator: str | None, slide_id: str | None
) -> Sample:
    cfg = (manifest.get("config") or {}).get("sample") or {}
    return Sample(
        id=sample_id if sample_id is not None else str(cfg.get("id", "")),
        slide_id=slide_id if slide_id is not None else str(cfg.get("slide_id", "")),
        operator=operator if operator is not None else str(cfg.get("operator", "")),
    )


def _shipped_hashes() -> set[str]:
    """sha256 of the weights shipped with uvscope (trained on simulated images only)."""
    out = set()
    weights = resources.files("uvscope.models").joinpath("weights")
    for kind in ("segment", "stain", "classify"):
        card = weights.joinpath(f"{kind}.json")
        if card.is_file():
            out.add(str(json.loads(card.read_text("utf-8")).get("sha256", "")))
    return out - {""}


def simulated_models(models: dict[str, Any]) -> list[str]:
    """Which of the scan's networks are the shipped simulator-trained stand-ins."""
    shipped = _shipped_hashes()
    return [
        key.removesuffix("_card")
        for key, card in sorted(models.items())
        if key.endswith("_card") and isinstance(card, dict) and card.get("sha256") in shipped
    ]


def cell_confidence(cell: dict[str, str]) -> float:
    """The probability of the class the cell was given (dead cells: of being dead)."""
    if cell.get("cell_class") == "dead":
        return float(cell.get("p_dead") or 1.0)
    return max(float(cell.get(f"p_{k}") or 0.0) for k in CLASSES) if cell else 0.0


def has_probabilities(cells: list[dict[str, str]]) -> bool:
    return bool(cells) and all(f"p_{k}" in cells[0] for k in CLASSES)


def quality_flags(facts: ReportFacts, healthy: int, dead: int) -> list[Flag]:
    """The checks a reader must see before trusting the numbers."""
    flags = [
        Flag(
            "WBCs counted",
            plural(healthy, "healthy WBC"),
            healthy < MIN_WBC,
            f"fewer than {MIN_WBC}: the intervals are wide; scan a larger area or count by hand",
        )
    ]
    if has_probabilities(facts.cells):
        low = sum(cell_confidence(c) < LOW_CONFIDENCE_P for c in facts.cells)
        share = low / len(facts.cells)
        flags.append(
            Flag(
                "low-confidence cells",
                f"{low} of {len(facts.cells)} cells found ({100 * share:.0f} %), "
                f"p < {LOW_CONFIDENCE_P:.2f}",
                share > LOW_CONFIDENCE_SHARE,
                f"over {100 * LOW_CONFIDENCE_SHARE:.0f} %: review them in the gallery",
            )
        )
    total = healthy + dead
    dead_share = dead / total if total else 0.0
    flags.append(
        Flag(
            "dead cells",
            f"{dead} of {total} cells found ({100 * dead_share:.0f} %)",
            dead_share > DEAD_SHARE,
            f"over {100 * DEAD_SHARE:.0f} %: an old or badly stored sample? check the smear",
        )
    )
    return flags
