"""A scan's progress as the operator needs it: acquired, analysed, counted, and an ETA that
includes the analysis.

The engine reports acquired tiles; the analysis runs beside it and finishes later (on a CPU
it is the slower of the two), so "12 of 12, ETA 0:00" while the analysis still has minutes
to go was wrong. The ETA here is the later of the acquisition's and the analysis's own, each
from its measured rate; the clock keeps running while the scan waits for the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def duration(s: float | None) -> str:
    if s is None:
        return "--"
    s = int(round(max(0.0, s)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


@dataclass
class RunProgress:
    total: int = 0
    analysis: bool = False
    started_s: float | None = None
    acquired: int = 0
    analysed: int = 0
    counted_wbc: int = 0
    #: (time, tiles done) samples, for the rates
    _acq_times: list[tuple[float, int]] = field(default_factory=list)
    _ana_times: list[tuple[float, int]] = field(default_factory=list)
    _done_at_start: int = 0
    #: a target-count scan: when its estimate expects the count complete (its plan grows
    #: ring by ring, so tiles left over a rate say nothing); the ETA counts down to it
    projected_end_s: float | None = None

    def start(self, total: int, analysis: bool, now_s: float, done: int = 0) -> None:
        """A new run of ``total`` tiles (``done`` already finished: a resumed scan)."""
        self.total, self.analysis, self.started_s = total, analysis, now_s
        self.acquired = self.analysed = self._done_at_start = done
        self.counted_wbc = 0
        self._acq_times, self._ana_times = [], []
        self.projected_end_s = None

    def tile_acquired(self, done: int, now_s: float) -> None:
        if done > self.acquired:
            self.acquired = done
            self._acq_times.append((now_s, done))

    def tile_analysed(self, now_s: float) -> None:
        self.analysed = min(self.total, self.analysed + 1)
        self._ana_times.append((now_s, self.analysed))

    def _rate(self, samples: list[tuple[float, int]]) -> float | None:
        """Tiles per second over the recent history (the last 20 samples)."""
        if not samples or self.started_s is None:
            return None
        recent = samples[-20:]
        if len(recent) > 1:
            (t0, n0), (t1, n1) = recent[0], recent[-1]
        else:
            (t0, n0), (t1, n1) = (self.started_s, self._done_at_start), recent[0]
        return (n1 - n0) / (t1 - t0) if t1 > t0 and n1 > n0 else None

    def eta_s(self, now_s: float) -> float | None:
        """Seconds until the acquisition and (when on) the analysis are both done."""
        if self.projected_end_s is not None:
            return max(0.0, self.projected_end_s - now_s)
        if self.total == 0:
            return None
        etas = []
        for left, times in (
            (self.total - self.acquired, self._acq_times),
            (self.total - self.analysed if self.analysis else 0, self._ana_times),
        ):
            if left <= 0:
                continue
            rate = self._rate(times)
            if rate is None:
                return None  # not measured yet
            last = times[-1][0]
            etas.append(max(0.0, left / rate - (now_s - last)))
        return max(etas, default=0.0)

    @property
    def waiting_for_analysis(self) -> bool:
        return self.analysis and self.acquired >= self.total > self.analysed

    def text(self, now_s: float) -> str:
        elapsed = now_s - self.started_s if self.started_s is not None else None
        parts = [f"acquired {self.acquired} of {self.total}"]
        if self.analysis:
            parts.append(f"analysed {self.analysed} of {self.total}")
            wbc = "WBC" if self.counted_wbc == 1 else "WBCs"
            parts.append(f"counted {self.counted_wbc} {wbc}")
        parts.append(f"elapsed {duration(elapsed)}")
        parts.append(f"ETA {duration(self.eta_s(now_s))}")
        return ", ".join(parts)
