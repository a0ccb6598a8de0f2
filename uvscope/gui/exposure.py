"""Exposure helpers for the live view: saturation, per-wavelength presets, auto-exposure.

Qt-free so they are tested against the simulated camera directly. The deep-UV source's
power differs several-fold between 260, 280 and 300 nm (280 nm at the 260 nm exposure is
fully saturated on the simulated rig), so each wavelength keeps its own exposure, and the
scan form takes the ones set in live view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: auto-exposure aims the bright percentile of the field at this fraction of full scale
TARGET_FRACTION = 0.7
BRIGHT_PERCENTILE = 99.5


def full_scale(bit_depth: int) -> int:
    """The brightest count the camera gives (a pixel at it is saturated)."""
    return (1 << int(bit_depth)) - 1


def saturated_mask(image: np.ndarray, level: int) -> np.ndarray:
    return np.asarray(image) >= level


def bright_level(image: np.ndarray) -> float:
    """The field's bright percentile, from a subsample (cheap for every frame)."""
    return float(np.percentile(np.asarray(image)[::4, ::4], BRIGHT_PERCENTILE))


@dataclass(frozen=True)
class AutoExposure:
    """The outcome: the exposure found and the bright level it gives (fraction of full scale)."""

    exposure_ms: float
    bright_fraction: float
    saturated_px: int
    frames: int
    converged: bool


def next_exposure_ms(image: np.ndarray, exposure_ms: float, level: int, target: float) -> float:
    """One step: scale linearly toward the target; quarter it while anything saturates."""
    if int(saturated_mask(image, level).sum()) > 0:
        return exposure_ms / 4.0
    bright = bright_level(image)
    if bright <= 0:
        return exposure_ms * 4.0
    return exposure_ms * target * level / bright


def auto_expose(
    snap: Callable[[float], np.ndarray],
    exposure_ms: float,
    level: int,
    limits_ms: tuple[float, float],
    target: float = TARGET_FRACTION,
    tolerance: float = 0.05,
    max_frames: int = 10,
) -> AutoExposure:
    """Find the exposure whose bright percentile is ``target`` of full scale, unsaturated.

    ``snap(exposure_ms)`` returns a frame taken at that exposure. Stops at the camera's
    limits (``converged`` False then: the light is too weak or too strong for the camera).
    """
    lo, hi = limits_ms
    exp = float(np.clip(exposure_ms, lo, hi))
    frames = 0
    while True:
        img = snap(exp)
        frames += 1
        sat = int(saturated_mask(img, level).sum())
        frac = bright_level(img) / level
        if sat == 0 and abs(frac - target) <= tolerance:
            return AutoExposure(exp, frac, 0, frames, True)
        new = float(np.clip(next_exposure_ms(img, exp, level, target), lo, hi))
        if new == exp or frames >= max_frames:  # at a camera limit, or out of frames
            return AutoExposure(exp, frac, sat, frames, False)
        exp = new


class ExposurePresets:
    """The exposure per wavelength, starting from the scan file's and changed in live view."""

    def __init__(self, by_nm: dict[int, float] | None = None, default_ms: float = 50.0) -> None:
        self.by_nm: dict[int, float] = dict(by_nm or {})
        self.default_ms = default_ms

    def get(self, nm: int) -> float:
        return self.by_nm.get(int(nm), self.default_ms)

    def set(self, nm: int, exposure_ms: float) -> None:
        self.by_nm[int(nm)] = float(exposure_ms)
