"""Measure each wavelength's focal offset (chromatic focal shift) by autofocus.

A deep-UV objective focuses 280 and 300 nm a micrometre or two away from 260 nm, more than the
depth of field, so a scan must move focus between filters. The offsets are a property of the
objective: measure them once at a few places on a smear and put them in the scan's
``[[wavelengths]] focus_offset_um``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from uvscope.acquisition.autofocus import Autofocus, SweepSettings
from uvscope.drivers.rig import Rig
from uvscope.errors import ScanError

Normalise = Callable[[int, np.ndarray], np.ndarray]


@dataclass
class FocalOffsets:
    """Offsets (um) of each wavelength's best focus from the first wavelength's."""

    reference_nm: int
    offsets_um: dict[int, float]
    #: spread (standard deviation) of the offset over the points, um
    spread_um: dict[int, float]
    #: best focus per wavelength at each point where every wavelength found one
    points: list[dict[str, object]] = field(default_factory=list)

    def toml(self, exposures_ms: dict[int, float]) -> str:
        """``[[wavelengths]]`` tables to paste into a scan file."""
        return "\n".join(
            f"[[wavelengths]]\nnm = {nm}\nexposure_ms = {exposures_ms[nm]:g}\n"
            f"focus_offset_um = {off:.2f}\n"
            for nm, off in self.offsets_um.items()
        )


def _at_wavelength(normalise: Normalise, nm: int) -> Callable[[np.ndarray], np.ndarray]:
    """``normalise`` for the frames of one wavelength (what an Autofocus takes)."""
    return lambda raw: normalise(nm, raw)


def measure_focus_offsets(
    rig: Rig,
    exposures_ms: dict[int, float],
    positions: Sequence[tuple[float, float]],
    settings: SweepSettings,
    normalise: Normalise | None = None,
    start_z_um: float | None = None,
) -> FocalOffsets:
    """Autofocus every wavelength (in the order given) at every position.

    The first wavelength is swept around ``start_z_um`` (default: the current focus), the
    others around the focus it found. Points where any wavelength finds no focus peak are left
    out; ScanError if none is left.
    """
    nms = list(exposures_ms)
    if len(nms) < 2:
        raise ScanError(
            "focus calibrate needs two or more wavelengths to compare; "
            "give a scan with its [[wavelengths]]"
        )
    focusers = {
        nm: Autofocus(
            rig,
            settings,
            nm,
            exposures_ms[nm],
            normalise=_at_wavelength(normalise, nm) if normalise is not None else None,
        )
        for nm in nms
    }
    points: list[dict[str, object]] = []
    missed: list[str] = []
    z0 = rig.focus.position_um() if start_z_um is None else start_z_um
    for x, y in positions:
        best: dict[int, float] = {}
        centre = z0
        for nm in nms:
            res = focusers[nm].run(x, y, centre)
            if not res.found:
                missed.append(f"{nm} nm at ({x:.3f}, {y:.3f}) mm: {res.message}")
                break
            best[nm] = res.z_um
            if nm == nms[0]:
                centre = z0 = res.z_um  # the next point starts near this focus
        if len(best) == len(nms):
            points.append({"x_mm": x, "y_mm": y, "z_um": {str(k): v for k, v in best.items()}})
    if not points:
        raise ScanError(
            "focus calibrate: no position gave a focus peak at every wavelength ("
            + "; ".join(missed)
            + "). Calibrate on the smear, not on blank glass"
        )
    ref = nms[0]
    diffs = {
        nm: np.array(
            [
                p["z_um"][str(nm)] - p["z_um"][str(ref)]  # type: ignore[index]
                for p in points
            ]
        )
        for nm in nms
    }
    return FocalOffsets(
        ref,
        {nm: float(np.median(d)) for nm, d in diffs.items()},
        {nm: float(d.std()) for nm, d in diffs.items()},
        points,
    )
