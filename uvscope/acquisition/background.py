"""Dark and background frames, and the normalisation every tile gets.

Paper 000 (section 4.3) normalises each tile by a background image taken at a blank region
at the same wavelength and settings; subtracting a dark frame first removes the camera
offset so a blank field normalises to 1.0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from uvscope.drivers.rig import Rig
from uvscope.imaging import normalise_denominator, normalise_with


@dataclass
class Backgrounds:
    """Per-wavelength dark and background frames (float32, averaged)."""

    id: str
    dark: dict[int, np.ndarray] = field(default_factory=dict)
    background: dict[int, np.ndarray] = field(default_factory=dict)
    position_mm: tuple[float, float] | None = None
    z_um: float | None = None
    acquired_at_s: float = 0.0
    _denominator: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def normalise(self, nm: int, raw: np.ndarray) -> np.ndarray:
        """(raw - dark) / (background - dark) as float32 (``uvscope.imaging``: the scan folder
        derives the same array from the stored frames)."""
        dark = self.dark.get(nm)
        denom = self._denominator.get(nm)
        if denom is None:
            denom = normalise_denominator(self.background[nm], dark)
            self._denominator[nm] = denom
        return normalise_with(raw, denom, dark)

    def stats(self) -> dict[int, dict[str, float]]:
        """Mean and spread of each background (after dark), for drift checks and the manifest."""
        out = {}
        for nm, bg in self.background.items():
            d = bg - self.dark[nm] if nm in self.dark else bg
            out[nm] = {"mean": float(d.mean()), "std": float(d.std())}
        return out


def average_frames(rig: Rig, n: int) -> np.ndarray:
    """Mean of ``n`` snaps at the current settings, as float32."""
    acc: np.ndarray | None = None
    for _ in range(n):
        img = rig.camera.snap().image
        acc = img.astype(np.float64) if acc is None else acc + img
    assert acc is not None
    return (acc / n).astype(np.float32)


def acquire_darks(
    rig: Rig,
    exposures_ms: dict[int, float],
    frames: int,
    on_wavelength: Callable[[int], None] = lambda nm: None,
) -> dict[int, np.ndarray]:
    """Dark frames with the wheel's blocked slot, one per wavelength's exposure;
    ``on_wavelength`` is called as each wavelength's dark is done (progress)."""
    if frames == 0 or rig.filter_wheel.dark_slot is None:
        return {}
    rig.filter_wheel.move_to_dark()
    cache: dict[float, np.ndarray] = {}
    out = {}
    for nm, exp in exposures_ms.items():
        if exp not in cache:
            rig.camera.set_exposure_ms(exp)
            cache[exp] = average_frames(rig, frames)
        out[nm] = cache[exp]
        on_wavelength(nm)
    return out


def acquire_backgrounds(
    rig: Rig,
    exposures_ms: dict[int, float],
    frames: int,
    position_mm: tuple[float, float],
    z_um: float,
    darks: dict[int, np.ndarray],
    bg_id: str = "bg0",
    on_wavelength: Callable[[int], None] = lambda nm: None,
) -> Backgrounds:
    """Backgrounds at a blank position, one per wavelength, with the given darks;
    ``on_wavelength`` is called as each wavelength's background is done (progress)."""
    rig.stage.start_move_to_mm(*position_mm)
    rig.focus.start_move_to_um(z_um)
    rig.stage.wait()
    rig.focus.wait()
    result = Backgrounds(
        id=bg_id,
        dark=dict(darks),
        position_mm=position_mm,
        z_um=z_um,
        acquired_at_s=rig.clock.now(),
    )
    for nm, exp in exposures_ms.items():
        rig.filter_wheel.move_to_wavelength(nm)
        rig.camera.set_exposure_ms(exp)
        result.background[nm] = average_frames(rig, frames)
        on_wavelength(nm)
    return result
