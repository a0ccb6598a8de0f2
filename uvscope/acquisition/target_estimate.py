"""How long a target-count scan will take: tiles, time and disk from what the scan has seen.

Before a scan only a textbook density is known (and real smears vary several-fold), so once
the analysis has seen the first tiles the estimate uses the white cells per tile counted
there, the scan's recent pace and the bytes per tile written so far. The pace is the
analysis's (the slower side's, see ``estimate_target``) over a recent window
(``PaceWindow``), not since the first tile: on a CPU the analysis warms up over its first
tiles and other jobs change its speed several-fold within a run, so the first tiles' pace
misleads. The time left is that pace over the tiles left to analyse: those the target
needs, and the analysis's backlog (the tiles taken past the count). It is a projection: a smear
thinner or thicker further out, or a machine that slows down later, moves it, so it is
recomputed as tiles arrive. No counting, no estimate (``estimate_target`` returns None).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: analysed tiles before a density is trusted (a healthy smear has ~0.3 WBC per tile)
MIN_TILES = 10
#: the pace window: the last half of the tiles so far, at least and at most this many
PACE_WINDOW_TILES = (10, 50)


@dataclass(frozen=True)
class TargetEstimate:
    """The projection to the target (times from the first tile to the scan's last tile
    analysed: the count complete)."""

    target: int
    tiles: int  #: tiles expected in all (at most the reachable ones)
    reachable: bool  #: the target is expected within the maximum area
    wbc_per_tile: float
    total_s: float  #: from the first tile to the last tile analysed
    remaining_s: float
    disk_bytes: int

    def text(self) -> str:
        """One line, as the CLI and the GUI show it."""
        end = "" if self.reachable else f"; the area ends first (~{self.expected_count()} WBCs)"
        return (
            f"{self.wbc_per_tile:.2f} WBC per tile: ~{self.tiles} tiles for {self.target} "
            f"WBCs, ~{duration_text(self.remaining_s)} to go ({duration_text(self.total_s)} "
            f"in all), {self.disk_bytes / 1e9:.1f} GB{end}"
        )

    def expected_count(self) -> int:
        return int(self.tiles * self.wbc_per_tile)


def duration_text(s: float) -> str:
    """ "1 h 05 min", "12 min 30 s" or "40 s"."""
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
    seconds_per_tile: float,
) -> TargetEstimate | None:
    """Tiles, time and disk for ``target`` healthy WBCs from ``wbc_counted`` in the first
    ``tiles_analysed`` tiles, ``elapsed_s`` after the first tile was taken, ``tiles_done``
    taken writing ``disk_bytes_done``; None before ``MIN_TILES`` tiles are analysed or a
    cell is counted.

    ``seconds_per_tile`` is the analysis's recent pace (seconds per analysed tile): that is
    the slower side's, since the analysis cannot run ahead of the acquisition (where it is
    faster it waits for tiles and shows the acquisition's pace), and where it is slower the
    acquisition runs ahead of it only by its queue. The scan sees the count only as the
    analysis reaches the tile that completes it, so it takes the tiles the analysis is
    behind by now (its backlog) past that tile too, and ends when the analysis has
    analysed them as well: the time left is every tile not yet analysed at that pace."""
    if tiles_analysed < MIN_TILES or wbc_counted <= 0 or tiles_done <= 0:
        return None
    per_tile = wbc_counted / tiles_analysed
    need = math.ceil(target / per_tile)
    backlog = max(0, tiles_done - tiles_analysed)
    tiles = max(tiles_done, min(need + backlog, reach_tiles))
    remaining_s = (tiles - tiles_analysed) * seconds_per_tile
    return TargetEstimate(
        target=target,
        tiles=tiles,
        reachable=need <= reach_tiles,
        wbc_per_tile=per_tile,
        total_s=elapsed_s + remaining_s,
        remaining_s=remaining_s,
        disk_bytes=int(disk_bytes_done / tiles_done * tiles),
    )


def folder_bytes(root: Path) -> int:
    """Bytes of every file under ``root`` (what the scan wrote so far)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


class PaceWindow:
    """Seconds per tile of one side of the scan over its recent tiles: the last half of the
    tiles so far, within ``PACE_WINDOW_TILES`` (short enough to follow a machine whose speed
    changes, long enough to smooth one slow tile)."""

    def __init__(self) -> None:
        self._samples: list[tuple[float, int]] = []  # (time, tiles so far), count rising

    def add(self, now_s: float, count: int) -> None:
        if not self._samples or count > self._samples[-1][1]:
            self._samples.append((now_s, count))

    def seconds_per_tile(self) -> float | None:
        """None until two counts have been seen."""
        if len(self._samples) < 2:
            return None
        t1, n1 = self._samples[-1]
        lo, hi = PACE_WINDOW_TILES
        window = min(hi, max(lo, n1 // 2))
        t0, n0 = next((s for s in reversed(self._samples) if s[1] <= n1 - window), self._samples[0])
        return (t1 - t0) / (n1 - n0)


class TargetWatch:
    """Follows a running target-count scan (the CLI's lines, the GUI's label and ETA): the
    estimate recomputed at every update (``latest``, with ``projected_end_s``), handed on
    when it first exists and again when its tiles or its time left move by a tenth; the
    folder's size (``folder_bytes``) is read only then. Time counts from the first tile
    seen, so the preparation (darks, focus map) is left out."""

    def __init__(self, target: int, reach_tiles: int, folder_bytes: Callable[[], int]) -> None:
        self.target, self.reach_tiles = target, reach_tiles
        self._folder_bytes = folder_bytes
        self._first_s: float | None = None
        self._pace = PaceWindow()  # of the analysed tiles
        self._shown: tuple[TargetEstimate, float] | None = None  # said last, its end
        self._bytes_per_tile = 0.0
        self.latest: TargetEstimate | None = None
        #: when (on the caller's clock) ``latest`` expects the count to be complete
        self.projected_end_s: float | None = None

    def update(
        self, wbc_counted: int, tiles_analysed: int, tiles_done: int, now_s: float
    ) -> TargetEstimate | None:
        """The new estimate to show, or None when the last one shown still holds."""
        if self._first_s is None:
            self._first_s = now_s
        self._pace.add(now_s, tiles_analysed)
        pace = self._pace.seconds_per_tile()
        if pace is None:
            return None
        counts = (wbc_counted, tiles_analysed, tiles_done, now_s - self._first_s)
        bytes_done = int(self._bytes_per_tile * tiles_done)
        est = estimate_target(self.target, *counts, bytes_done, self.reach_tiles, pace)
        if est is None:
            return None
        self.latest, self.projected_end_s = est, now_s + est.remaining_s
        if not self._moved(est, self.projected_end_s):
            return None
        disk = self._folder_bytes()
        self._bytes_per_tile = disk / tiles_done
        est = estimate_target(self.target, *counts, disk, self.reach_tiles, pace)
        self.latest = est
        self._shown = (est, self.projected_end_s) if est is not None else None
        return est

    def _moved(self, est: TargetEstimate, end_s: float) -> bool:
        """The tiles differ from those said last by more than a tenth, or the projected end
        by more than a tenth of the time that was left then (at least 30 s)."""
        if self._shown is None:
            return True
        shown, shown_end_s = self._shown
        return abs(est.tiles - shown.tiles) > shown.tiles / 10 or abs(end_s - shown_end_s) > max(
            shown.remaining_s / 10, 30.0
        )
