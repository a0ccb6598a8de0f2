"""Findings a reader must see first: one type for every flag uvscope raises.

The white-cell differential (blasts, immature granulocytes), the red-cell and platelet indices
(thrombocytopenia, sickle cells, schistocytes, ...) and the reference intervals each raise
``Flag``s; the CLI summary, ``differential.json`` / ``cbc.json``, the report and the GUI show
them, critical findings first. Each flag carries the rule that raised it, so a reviewer can
check it against the lab's own policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Flag:
    """One finding: a short code, the text a reader sees, and the rule that raised it."""

    #: stable identifier, e.g. ``"blasts"``, ``"thrombocytopenia"``, ``"neutrophil_high"``
    code: str
    #: what the reader sees, e.g. ``"Blasts seen: 3 of 200 WBCs (1.5 %)"``
    message: str
    #: the rule and its threshold, e.g. ``"any blast counted"``
    rule: str
    #: a critical finding (a lab calls it through): shown first, as a banner in the GUI
    critical: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Flag:
        return cls(
            code=str(data["code"]),
            message=str(data["message"]),
            rule=str(data["rule"]),
            critical=bool(data.get("critical", False)),
        )


def ordered(flags: Iterable[Flag]) -> list[Flag]:
    """Critical findings first, then the rest, each group in the order raised."""
    items = list(flags)
    return [f for f in items if f.critical] + [f for f in items if not f.critical]
