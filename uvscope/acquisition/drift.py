"""Illumination drift: when to take the background again.

A deep-UV source drifts over a long scan, and a background taken at the start then
normalises later tiles wrongly. Every tile shows the clear-field level directly: plasma
between the cells transmits fully, so a high percentile of the normalised image sits near
1.0 while the illumination holds. When its running median moves by more than the threshold
from its level just after the last background (or a schedule falls due), the engine takes
the background again and later tiles name the new one in their ``background_id``. On a resume
the schedule goes on from the tiles already taken with the current background.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from uvscope.config import BackgroundConfig

#: percentile of the normalised tile taken as its clear-field (no cell) level
CLEAR_PERCENTILE = 95.0


def clear_level(img: np.ndarray, step: int = 4) -> float:
    """The clear-field level of a normalised tile (a subsampled high percentile; cheap)."""
    return float(np.percentile(img[::step, ::step], CLEAR_PERCENTILE))


@dataclass(frozen=True)
class DriftDecision:
    reason: str  # "drift", "every-tiles", "every-minutes"
    message: str
    drift_percent: float | None = None


class DriftMonitor:
    """Tracks the clear-field level of tiles since the last background.

    ``baseline_tiles`` tiles after each background set the reference level; the median of
    the last ``window`` tiles is compared with it, so one dense or blank tile cannot trigger.
    """

    def __init__(
        self,
        cfg: BackgroundConfig,
        wavelength_nm: int,
        now_s: float,
        baseline_tiles: int = 3,
        window: int = 3,
    ) -> None:
        self.cfg = cfg
        self.wavelength_nm = wavelength_nm
        self.baseline_tiles = baseline_tiles
        self._recent: deque[float] = deque(maxlen=window)
        self.reset(now_s)

    def reset(self, now_s: float) -> None:
        """Call after every new background."""
        self._taken = 0
        self._since_s = now_s
        self._first: list[float] = []
        self.baseline: float | None = None
        self._recent.clear()

    def restore(self, levels: list[float], age_s: float, now_s: float) -> None:
        """Carry the schedule over a resume: ``levels`` are the clear levels of the tiles
        already taken with the current background, in order, ``age_s`` the scan time since
        it was taken. Time the scan stood stopped does not count."""
        self.reset(now_s - age_s)
        self._taken = len(levels)
        self._first = list(levels[: self.baseline_tiles])
        if len(self._first) >= self.baseline_tiles:
            self.baseline = float(np.median(self._first))
            self._recent.extend(levels[self.baseline_tiles :])

    def tile_taken(self) -> None:
        """Count a tile exposed with the current background (the engine calls it as soon as
        the tile's frames are triggered, before they are read out and delivered)."""
        self._taken += 1

    def schedule_due(self, now_s: float) -> DriftDecision | None:
        """The schedule (``repeat_every_tiles`` taken, ``repeat_every_minutes`` passed),
        checked before each tile so no extra tile slips in while the last is read out."""
        cfg = self.cfg
        if cfg.repeat_every_tiles is not None and self._taken >= cfg.repeat_every_tiles:
            return DriftDecision(
                "every-tiles",
                f"{self._taken} tiles since the last background",
                self.drift_percent(),
            )
        if (
            cfg.repeat_every_minutes is not None
            and now_s - self._since_s >= cfg.repeat_every_minutes * 60.0
        ):
            return DriftDecision(
                "every-minutes",
                f"{(now_s - self._since_s) / 60:.1f} min since the last background",
                self.drift_percent(),
            )
        return None

    def age_s(self, now_s: float) -> float:
        """Scan time since the last background."""
        return now_s - self._since_s

    def drift_percent(self) -> float | None:
        if self.baseline is None or not self._recent or self.baseline <= 0:
            return None
        return (float(np.median(list(self._recent))) / self.baseline - 1.0) * 100.0

    def update(
        self, normalised: dict[int, np.ndarray], now_s: float
    ) -> tuple[float, DriftDecision | None]:
        """Add one delivered tile; returns its clear level and a decision when the drift
        calls for a background."""
        img = normalised.get(self.wavelength_nm)
        if img is None:
            img = next(iter(normalised.values()))
        level = clear_level(img)
        if self.baseline is None:
            self._first.append(level)
            if len(self._first) >= self.baseline_tiles:
                self.baseline = float(np.median(self._first))
        else:
            self._recent.append(level)
        cfg = self.cfg
        drift = self.drift_percent()
        if (
            cfg.drift_threshold_percent > 0
            and drift is not None
            and len(self._recent) == self._recent.maxlen
            and abs(drift) > cfg.drift_threshold_percent
        ):
            return level, DriftDecision(
                "drift",
                f"clear-field level drifted {drift:+.1f}% (threshold "
                f"{cfg.drift_threshold_percent:g}%)",
                drift,
            )
        return level, None
