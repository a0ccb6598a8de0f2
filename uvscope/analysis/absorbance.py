"""Optical density of a normalised tile, referred to its own clear glass.

Red cells and platelets are measured by what they absorb: OD = -log10(T / T_clear), where
T_clear is the tile's clear-glass level (1 after a good background normalisation). The level
is measured on every tile, so a slow lamp drift does not bias haemoglobin mass, and a tile
whose clear glass is far from 1 tells that the background is not usable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uvscope.config import HAEMOGLOBIN_ABSORPTIVITY_CM2_G, RigConfig

#: transmission floor before the log (an opaque pixel reads OD 4, not infinity)
T_FLOOR = 1e-4
#: a bright plateau on at least this share of the tile means the clear glass clipped
SATURATED_SHARE = 0.01


@dataclass(frozen=True)
class HbCalibration:
    """What turns a red cell's integrated absorbance into haemoglobin mass, per wavelength:
    haemoglobin's specific absorptivity (cm^2/g) and the edge scattering to subtract (OD x um
    per um of outline). Both come from the rig config (``haemoglobin_absorptivity_cm2_g``,
    ``rbc_edge_scatter_od_um``); docs/whole-smear.md has the physics."""

    absorptivity_cm2_g: Mapping[int, float] = field(
        default_factory=lambda: dict(HAEMOGLOBIN_ABSORPTIVITY_CM2_G)
    )
    edge_scatter_od_um: Mapping[int, float] = field(
        default_factory=lambda: dict(RigConfig().rbc_edge_scatter_od_um)
    )

    @classmethod
    def from_rig(cls, rig: RigConfig | Mapping[str, Any]) -> HbCalibration:
        """From a rig config or its dump in a scan manifest (older manifests: the defaults)."""
        if not isinstance(rig, RigConfig):
            fields_ = ("haemoglobin_absorptivity_cm2_g", "rbc_edge_scatter_od_um")
            rig = RigConfig.model_validate({k: rig[k] for k in fields_ if k in rig})
        return cls(dict(rig.haemoglobin_absorptivity_cm2_g), dict(rig.rbc_edge_scatter_od_um))

    def od_per_pg_um2(self, wavelength_nm: int) -> float | None:
        """OD of 1 pg/um^2 of haemoglobin at ``wavelength_nm`` (1 cm^2/g = 1e-4 OD per
        pg/um^2); None without a constant for that wavelength."""
        eps = self.absorptivity_cm2_g.get(wavelength_nm)
        return None if not eps else float(eps) * 1e-4

    def edge_od_um(self, wavelength_nm: int) -> float:
        return float(self.edge_scatter_od_um.get(wavelength_nm, 0.0))


@dataclass(frozen=True)
class ClearGlass:
    """The clear-glass level of a tile and whether it clipped at the camera's maximum."""

    level: float
    saturated: bool
    #: the clipped value (pixels at it carry no absorbance information); inf when not clipped
    clip_value: float


def clear_glass(t: np.ndarray) -> ClearGlass:
    """The tile's clear-glass transmission: the median of the pixels that absorb little.

    A first pass takes the upper 60 % of the tile (red cells cover a third of a monolayer);
    the median of the pixels within 3 % of that level is the estimate. A flat plateau at the
    maximum on ``SATURATED_SHARE`` of the tile means the exposure clipped the clear glass.
    """
    sample = np.asarray(t[::6, ::6], dtype=np.float32)
    first = float(np.median(sample[sample >= np.percentile(sample, 40)]))
    near = sample[np.abs(sample - first) <= 0.03 * max(first, 1e-6)]
    level = float(np.median(near)) if near.size else first
    vmax = float(sample.max())
    plateau = float(np.mean(sample >= vmax - 1e-6 * max(abs(vmax), 1.0)))
    saturated = plateau >= SATURATED_SHARE
    return ClearGlass(level, saturated, vmax if saturated else float("inf"))


def _log_transmission(t: np.ndarray, clear: ClearGlass) -> np.ndarray:
    """log10(T / T_clear) per pixel (float32; the floor keeps it finite): -OD."""
    rel = np.asarray(t, dtype=np.float32) / np.float32(max(clear.level, 1e-6))
    np.maximum(rel, np.float32(T_FLOOR), out=rel)
    np.log10(rel, out=rel)
    return rel


def optical_density(t: np.ndarray, clear: ClearGlass) -> np.ndarray:
    """OD = -log10(T / T_clear) per pixel (float32)."""
    rel = _log_transmission(t, clear)
    np.negative(rel, out=rel)
    return rel


def binned_optical_density(t: np.ndarray, clear: ClearGlass) -> np.ndarray:
    """``bin2_mean(optical_density(t, clear))`` to the bit, the sign taken on the binned image
    (a quarter of the pixels): rounding to nearest is symmetric, so the mean of negated values
    is the negated mean."""
    out = bin2_mean(_log_transmission(t, clear))
    np.negative(out, out=out)
    return out


def bin2_mean(a: np.ndarray) -> np.ndarray:
    """2 x 2 block means (odd last rows/columns dropped): the integral over a region is kept,
    at a quarter of the pixels to label and measure."""
    h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    out: np.ndarray = a[0:h:2, 0:w:2] + a[1:h:2, 0:w:2]
    out += a[0:h:2, 1:w:2]
    out += a[1:h:2, 1:w:2]
    out *= np.float32(0.25)
    return out


def bin2_pick(a: np.ndarray) -> np.ndarray:
    """Every other pixel in rows and columns (masks that are grown afterwards anyway)."""
    h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    return a[0:h:2, 0:w:2]


def bin2_any(mask: np.ndarray) -> np.ndarray:
    """2 x 2 blocks where any pixel is set."""
    h, w = (mask.shape[0] // 2) * 2, (mask.shape[1] // 2) * 2
    out: np.ndarray = mask[0:h:2, 0:w:2] | mask[1:h:2, 0:w:2]
    out |= mask[0:h:2, 1:w:2]
    out |= mask[1:h:2, 1:w:2]
    return out
