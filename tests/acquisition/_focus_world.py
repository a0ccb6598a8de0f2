"""A small stand-in slide for focus tests: tilted, bowed, with cells that blur out of focus.

Same defocus model as the simulator (Gaussian PSF whose sigma grows 0.26 um per um of
defocus, depth of field ~1.4 um) but tiny and fast, so focus tests check the control logic
against a surface they know exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

POWER = {260: 0.5, 280: 4.0, 300: 0.8}


def _hash(i: np.ndarray, j: np.ndarray, k: float) -> np.ndarray:
    v = np.sin(i * 12.9898 + j * 78.233 + k * 37.719) * 43758.5453
    return v - np.floor(v)


class TiltedWorld:
    """Cells on a stage-fixed jittered lattice over a tilted, bowed surface."""

    def __init__(
        self,
        width: int,
        height: int,
        pixel_size_um: float,
        centre_mm: tuple[float, float] = (42.5, 32.5),
        z0_um: float = 5000.0,
        tilt_um_per_mm: tuple[float, float] = (1.5, -0.8),
        curvature_um_per_mm2: float = 0.02,
        blank_mm: tuple[float, float] = (35.0, 25.0),
        pitch_um: float = 8.0,
        empty_below_x_mm: float | None = None,
        sparse_below_x_mm: float | None = None,
    ) -> None:
        self.w, self.h, self.px = width, height, pixel_size_um
        self.centre, self.z0 = centre_mm, z0_um
        self.tilt, self.curv = tilt_um_per_mm, curvature_um_per_mm2
        self.blank = blank_mm
        self.pitch = pitch_um
        self.empty_below_x_mm = empty_below_x_mm
        self.sparse_below_x_mm = sparse_below_x_mm  # left of it about 1 site in 7 has a cell
        self.power = 1.0  # illumination drift: tests change it mid-scan
        yy, xx = np.mgrid[0:height, 0:width]
        r2 = ((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2
        self.field = (1.0 - 0.4 * r2).astype(np.float32)
        self.renders = 0

    def blank_position_mm(self) -> tuple[float, float]:
        return self.blank

    def surface_z_um(self, x_mm: float, y_mm: float) -> float:
        dx, dy = x_mm - self.centre[0], y_mm - self.centre[1]
        return self.z0 + self.tilt[0] * dx + self.tilt[1] * dy + self.curv * (dx * dx + dy * dy)

    def best_focus_um(self, x_mm: float, y_mm: float, wavelength_nm: int = 260) -> float:
        return self.surface_z_um(x_mm, y_mm)

    def transmission(self, x_mm: float, y_mm: float) -> np.ndarray:
        u = x_mm * 1000 + (np.arange(self.w) - self.w / 2) * self.px
        v = y_mm * 1000 + (np.arange(self.h) - self.h / 2) * self.px
        uu, vv = np.meshgrid(u, v)
        i, j = np.floor(uu / self.pitch), np.floor(vv / self.pitch)
        cx = (i + 0.5 + 0.25 * (_hash(i, j, 1) - 0.5)) * self.pitch
        cy = (j + 0.5 + 0.25 * (_hash(i, j, 2) - 0.5)) * self.pitch
        present = _hash(i, j, 3) > 0.35
        if self.sparse_below_x_mm is not None:
            present &= (uu / 1000 >= self.sparse_below_x_mm) | (_hash(i, j, 3) > 0.85)
        r = np.hypot(uu - cx, vv - cy)
        cell = present & (r < 2.6)
        near_blank = np.hypot(uu / 1000 - self.blank[0], vv / 1000 - self.blank[1]) < 0.4
        cell &= ~near_blank
        if self.empty_below_x_mm is not None:
            cell &= uu / 1000 >= self.empty_below_x_mm
        return np.where(cell, 0.5, 1.0).astype(np.float32)

    def render(self, x_mm, y_mm, z_um, wavelength_nm, exposure_ms, rng):
        self.renders += 1
        if wavelength_nm is None:
            img = 100 + rng.normal(0, 2, (self.h, self.w))
            return np.clip(img, 0, 16383).astype(np.uint16)
        t = self.transmission(x_mm, y_mm)
        dz = z_um - self.best_focus_um(x_mm, y_mm, wavelength_nm)
        sigma_px = float(np.hypot(0.11, 0.26 * dz)) / self.px
        t = gaussian_filter(t, sigma_px, mode="nearest")
        signal = 60 * POWER[wavelength_nm] * exposure_ms * self.power * self.field * t
        img = 100 + signal + rng.normal(0, 1, signal.shape) * np.sqrt(signal + 4)
        return np.clip(img, 0, 16383).astype(np.uint16)


def small_rig(
    world: TiltedWorld | None = None,
    faults=None,
    focus_limits_um=(0.0, 10_000.0),
    real_time: bool = False,
):
    """A 128 x 96 px simulated rig (0.5 um pixels) over ``world`` (default: a TiltedWorld)."""
    from uvscope.config import CameraConfig, FocusConfig, RigConfig, SimConfig
    from uvscope.sim.devices import build_sim_rig

    cfg = RigConfig(
        camera=CameraConfig(width_px=128, height_px=96, pixel_size_um=0.5),
        focus=FocusConfig(limits_um=focus_limits_um),
        sim=SimConfig(real_time=real_time),
    )
    world = world or TiltedWorld(128, 96, 0.5)
    return build_sim_rig(cfg, faults=faults, renderer=world), world


def small_scan(center=(43.0, 33.0), rows=1, columns=6, **focus):
    """A short scan at 260 nm with cheap backgrounds; fixed focus, unchecked, unless the
    focus settings are given (tests of other things keep the device timing simple)."""
    from uvscope.config import FocusPlanConfig, RegionConfig, ScanConfig

    if not focus:
        focus = {"mode": "fixed", "refocus_threshold": 0.0}

    return ScanConfig(
        region=RegionConfig(center_mm=center, rows=rows, columns=columns),
        focus=FocusPlanConfig(**focus),
        save_raw=False,
        background={"frames": 2, "dark_frames": 2},
    )
