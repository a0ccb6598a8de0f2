"""One retry policy for device errors: a budget per tile and one for the whole scan.

A device error costs the tile it hit (the oldest tile whose frames were lost) one unit of its
budget and the scan one unit of its own. While both last, the engine reopens the devices and
takes the lost tiles again; when either is spent it stops (headless) or pauses for the
operator (GUI), whose Resume grants that tile a fresh allowance. A tile's count never resets:
triggering it again is not progress, only a finished tile is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RetryBudget:
    per_tile: int
    per_scan: int
    spent_by: Counter[str] = field(default_factory=Counter)
    spent: int = 0
    _allow: Counter[str] = field(default_factory=Counter)
    _scan_allow: int = 0

    def __post_init__(self) -> None:
        self._scan_allow = self.per_scan

    def charge(self, where: str) -> bool:
        """Count one device error at ``where`` (a tile, "background", ...); whether a
        retry is still within budget."""
        self.spent_by[where] += 1
        self.spent += 1
        return (
            self.spent_by[where] <= self.per_tile + self._allow[where]
            and self.spent <= self._scan_allow
        )

    def grant(self, where: str) -> None:
        """The operator chose to retry after the budget ran out: one more allowance."""
        self._allow[where] = self.spent_by[where] + max(self.per_tile, 1) - self.per_tile
        self._scan_allow = max(self._scan_allow, self.spent) + max(self.per_tile, 1)

    def describe(self, where: str) -> str:
        return (
            f"{self.spent_by[where]} device error(s) at {where} (budget {self.per_tile} "
            f"retries a tile), {self.spent} in the scan (budget {self.per_scan})"
        )
