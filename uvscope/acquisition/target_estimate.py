"""How long a target-count scan will take: tiles, time and disk from the density measured.

Before a scan only a textbook density is known (and real smears vary several-fold), so once
the analysis has seen the first tiles the estimate uses the white cells per tile counted
there, the seconds per tile the scan has taken so far (acquisition and analysis together,
whichever sets the pace) and the bytes per tile written so far. It is a projection of the
first tiles: a smear thinner or thicker further out moves it, so it is recomputed as tiles
arrive. No counting, no estimate (``estimate_target`` returns None).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: analysed tiles before a density is trusted (a healthy smear has ~0.3 WBC per tile)
MIN_TILES = 10


@dataclass(frozen=True)
class TargetEstimate:
    """The projection from the first tiles to the target (times from the first tile)."""

    target: int
    tiles: int  #: tiles expected in all (at most the reachable ones)
    reachable: bool  #: the target is expected within the maximum area
    wbc_per_tile: float
    total_s: float  #: the tiles' time from the first tile to the last
    remaining_s: float
    disk_bytes: int

    def text(self) -> str:
        """One line, as the CLI and the GUI show it."""
        end = "" if self.reachable else f"; the area ends first (~{self.expected_count()} WBCs)"
        return (
            f"{self.wbc_per_tile:.2f} WBC per tile: ~{self.tiles} tiles for {self.target} "
            f"WBCs, ~{_duration(self.remaining_s)} to go ({_duration(self.total_s)} in all), "
            f"{self.disk_bytes / 1e9:.1f} GB{end}"
        )

    def expected_count(self) -> int:
        return int(self.tiles * self.wbc_per_tile)


def _duration(s: float) -> str:
    m, sec = divmod(max(0, int(round(s))), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {sec:02d} s" if m else f"{sec} s")


def estimate_target(
    target: int,
    wbc_counted: int,
    tiles_analysed: int,
    tiles_done: int,
    elapsed_s: float,
    disk_bytes_done: int,
    reach_tiles: int,
) -> TargetEstimate | None:
    """Tiles, time and disk for ``target`` healthy WBCs from ``wbc_counted`` in the first
    ``tiles_analysed`` tiles, ``elapsed_s`` after the first tile was taken, ``tiles_done``
    taken writing ``disk_bytes_done``; None before ``MIN_TILES`` tiles are analysed or a
    cell is counted.

    The pace is the analysis's (seconds per analysed tile): it cannot run ahead of the
    acquisition, and where it is the slower side the acquisition runs ahead only by the
    analysis's queue, so the scan ends when the analysis reaches the tile that completes
    the count (taking the tiles it is behind by too)."""
    if tiles_analysed < MIN_TILES or wbc_counted <= 0 or tiles_done <= 0:
        return None
    per_tile = wbc_counted / tiles_analysed
    need = math.ceil(target / per_tile)
    # the scan sees the count only as the analysis catches up: tiles taken but not yet
    # analysed now will be taken past the target too
    lag = max(0, tiles_done - tiles_analysed)
    tiles = max(tiles_done, min(need + lag, reach_tiles))
    total_s = elapsed_s / tiles_analysed * min(need, reach_tiles)
    return TargetEstimate(
        target=target,
        tiles=tiles,
        reachable=need <= reach_tiles,
        wbc_per_tile=per_tile,
        total_s=max(total_s, elapsed_s),
        remaining_s=max(0.0, total_s - elapsed_s),
        disk_bytes=int(disk_bytes_done / tiles_done * tiles),
    )


def folder_bytes(root: Path) -> int:
    """Bytes of every file under ``root`` (what the scan wrote so far)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


class TargetWatch:
    """Follows a running target-count scan (the CLI's lines, the GUI's label): the estimate
    recomputed as tiles arrive, handed on when it first exists and again when its tile count
    moves by a tenth; the folder's size (``folder_bytes``) is read only then. Time counts from
    the first tile seen, so the preparation (darks, focus map) is left out."""

    def __init__(self, target: int, reach_tiles: int, folder_bytes: Callable[[], int]) -> None:
        self.target, self.reach_tiles = target, reach_tiles
        self._folder_bytes = folder_bytes
        self._first: tuple[float, int] | None = None
        self._shown = 0
        self.latest: TargetEstimate | None = None

    def update(
        self, wbc_counted: int, tiles_analysed: int, tiles_done: int, now_s: float
    ) -> TargetEstimate | None:
        """The new estimate to show, or None when the last one shown still holds."""
        if self._first is None:
            self._first = (now_s, tiles_done)
            return None
        elapsed_s = now_s - self._first[0]
        counts = (wbc_counted, tiles_analysed, tiles_done, elapsed_s)
        est = estimate_target(self.target, *counts, 0, self.reach_tiles)
        if est is None or abs(est.tiles - self._shown) <= self._shown / 10:
            return None
        self._shown = est.tiles
        self.latest = estimate_target(self.target, *counts, self._folder_bytes(), self.reach_tiles)
        return self.latest
