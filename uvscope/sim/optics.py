"""Optics of the simulated microscope: absorbance, PSF with defocus, illumination field.

Numbers come from /work/shared/reference/simulator-physics.md; every estimate is a field of
``OpticsParams`` or ``SensorParams`` so a study can vary it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from uvscope.config import HAEMOGLOBIN_ABSORPTIVITY_CM2_G

PLANCK_J_S = 6.62607015e-34
LIGHT_M_S = 2.99792458e8
#: 1 pg/um^2 expressed in g/cm^2
PG_PER_UM2_IN_G_PER_CM2 = 1e-4


def _absorptivity() -> dict[int, tuple[float, float, float]]:
    # cm^2/g for (nucleic acid, protein, oxy-haemoglobin); 300 nm NA/protein are estimates;
    # haemoglobin's from the one table the analysis also reads (through the rig config)
    hb = HAEMOGLOBIN_ABSORPTIVITY_CM2_G
    return {
        260: (20_000.0, 570.0, hb[260]),
        280: (10_000.0, 1_000.0, hb[280]),
        300: (1_500.0, 60.0, hb[300]),
    }


@dataclass(frozen=True)
class SensorParams:
    """EMVA 1288 linear camera model (pco.ultraviolet-like CCD)."""

    quantum_efficiency: dict[int, float] = field(
        default_factory=lambda: {260: 0.30, 280: 0.32, 300: 0.35}
    )
    read_noise_e: float = 6.0
    dark_current_e_per_s: float = 0.5
    full_well_e: float = 18_000.0
    #: DN per electron; full well exceeds the 14-bit range so bright pixels clip in the ADC
    gain_dn_per_e: float = 1.0
    offset_dn: float = 100.0
    #: photo-response non-uniformity (fixed per pixel, relative sd)
    prnu: float = 0.01
    #: seed of the fixed pattern (PRNU) of this sensor
    sensor_seed: int = 1288
    #: use exact Poisson shot noise below this mean signal (electrons), Gaussian above
    poisson_below_e: float = 50.0


@dataclass(frozen=True)
class OpticsParams:
    """Objective, illumination and absorbance model."""

    absorptivity_cm2_g: dict[int, tuple[float, float, float]] = field(default_factory=_absorptivity)
    numerical_aperture: float = 0.5
    #: power on the sample per wavelength (paper 000)
    power_mw: dict[int, float] = field(default_factory=lambda: {260: 0.14, 280: 4.5, 300: 0.22})
    #: illuminated area on the sample and fraction of photons reaching the sensor
    illuminated_area_mm2: float = 0.2
    throughput: float = 0.025
    #: best focus at each wavelength relative to 260 nm (chromatic focal shift)
    focal_shift_um: dict[int, float] = field(default_factory=lambda: {260: 0.0, 280: 1.2, 300: 2.4})
    #: lateral image shift per wavelength (x, y) um, relative to 260 nm
    lateral_shift_um: dict[int, tuple[float, float]] = field(
        default_factory=lambda: {260: (0.0, 0.0), 280: (0.22, -0.14), 300: (0.47, -0.29)}
    )
    #: in-focus Gaussian PSF sigma = factor * lambda / NA (Airy core approximation)
    psf_sigma_factor: float = 0.21
    #: growth of the PSF sigma with defocus (um of sigma per um of |dz|); DOF about 1.4 um
    defocus_sigma_per_um: float = 0.26
    #: scattering: OD scaled by (260 / lambda) ** exponent
    scatter_exponent: float = 2.0
    #: peak OD and width (um) of the scattering halo at cell edges
    halo_od_rbc: float = 0.03
    halo_od_wbc: float = 0.04
    halo_od_platelet: float = 0.02
    halo_width_um: float = 0.35
    #: scattering OD of granules at full granule density
    granule_scatter_eosinophil: float = 0.10
    granule_scatter_basophil: float = 0.06
    granule_scatter_neutrophil: float = 0.015
    #: illumination field: vignetting fall-off at the sensor corner, smooth non-uniformity
    vignetting: float = 0.22
    nonuniformity: float = 0.08
    #: faint coherence rings (relative amplitude) from dust in the illumination path
    coherence_ring_amplitude: float = 0.012
    illumination_seed: int = 260
    #: the camera behind the objective
    sensor: SensorParams = field(default_factory=SensorParams)

    def od_weights(self, wavelength_nm: int) -> tuple[float, float, float]:
        """OD per pg/um^2 of nucleic acid, protein, haemoglobin at ``wavelength_nm``."""
        eps = self.absorptivity_cm2_g[wavelength_nm]
        return tuple(e * PG_PER_UM2_IN_G_PER_CM2 for e in eps)  # type: ignore[return-value]

    def scatter_scale(self, wavelength_nm: int) -> float:
        return float((260.0 / wavelength_nm) ** self.scatter_exponent)

    def psf_sigma_um(self, wavelength_nm: int, defocus_um: float) -> float:
        s0 = self.psf_sigma_factor * wavelength_nm * 1e-3 / self.numerical_aperture
        return math.hypot(s0, self.defocus_sigma_per_um * defocus_um)

    def photons_per_ms(self, wavelength_nm: int, pixel_size_um: float) -> float:
        """Photons reaching one sensor pixel per ms at the illumination peak."""
        photon_j = PLANCK_J_S * LIGHT_M_S / (wavelength_nm * 1e-9)
        per_s = self.power_mw[wavelength_nm] * 1e-3 / photon_j
        frac = (pixel_size_um**2) / (self.illuminated_area_mm2 * 1e6)
        return per_s * frac * self.throughput * 1e-3


def illumination_field(
    optics: OpticsParams, wavelength_nm: int, shape: tuple[int, int]
) -> np.ndarray:
    """Relative illumination (peak 1) on the sensor: vignetting, smooth lobes, faint rings."""
    h, w = shape
    rng = np.random.default_rng([optics.illumination_seed, wavelength_nm])
    y = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / (max(h, w) / 2)
    x = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / (max(h, w) / 2)
    yy, xx = y[:, None], x[None, :]
    cx, cy = rng.normal(0, 0.12, 2)
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / 2.0
    field_ = 1.0 / (1.0 + optics.vignetting * r2) ** 2
    smooth = np.zeros((h, w), np.float32)
    for _ in range(4):
        fx, fy = rng.uniform(0.3, 1.2, 2)
        ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
        smooth += np.cos(np.pi * fx * xx + ph1) * np.cos(np.pi * fy * yy + ph2)
    field_ = field_ * (1.0 + optics.nonuniformity * smooth / 4.0)
    for _ in range(3):
        rx, ry = rng.uniform(-0.9, 0.9, 2)
        period = rng.uniform(0.03, 0.06)
        rho = np.sqrt((xx - rx) ** 2 + (yy - ry) ** 2)
        ring = np.cos(2 * np.pi * rho / period) * np.exp(-rho / 0.25)
        field_ = field_ * (1.0 + optics.coherence_ring_amplitude * ring)
    field_ = field_.astype(np.float32)
    flat: np.ndarray = field_ / field_.max()
    return flat


def _shifted_gaussian(sigma_px: float, shift_px: float) -> np.ndarray:
    """Sampled Gaussian centred at ``shift_px`` (|shift| <= 0.5), truncated at 3 sigma."""
    radius = max(int(math.ceil(3.0 * sigma_px + abs(shift_px))), 1)
    t = np.arange(-radius, radius + 1, dtype=np.float64) - shift_px
    k = np.exp(-0.5 * (t / sigma_px) ** 2)
    kernel: np.ndarray = (k / k.sum()).astype(np.float32)
    return kernel


def blur_pad_px(sigma_px: float) -> int:
    """Margin a window needs around the field so ``blur_and_crop`` sees real content."""
    return int(math.ceil(4.0 * sigma_px)) + 3


def blur_and_crop(
    padded: np.ndarray,
    pad: int,
    out_shape: tuple[int, int],
    sigma_px: float,
    shift: tuple[float, float],
) -> np.ndarray:
    """Blur ``padded`` with a Gaussian PSF, sample it at a sub-pixel ``shift`` (rows, cols)
    and return the ``out_shape`` field that starts ``pad`` pixels in."""
    h, w = out_shape
    fr, fc = shift
    if sigma_px <= 2.5:
        # separable; the integer part of the shift is a slice, the fraction is in the kernel
        ir, ic = round(fr), round(fc)
        kr = _shifted_gaussian(sigma_px, fr - ir)
        kc = _shifted_gaussian(sigma_px, fc - ic)
        rr, rc = len(kr) // 2, len(kc) // 2
        r0, c0 = pad + ir, pad + ic
        sub = padded[r0 - rr : r0 + h + rr, c0 - rc : c0 + w + rc]
        tmp = ndimage.correlate1d(sub, kc, axis=1, mode="nearest")[:, rc : rc + w]
        out = ndimage.correlate1d(tmp, kr, axis=0, mode="nearest")[rr : rr + h]
        return np.ascontiguousarray(out)
    # strong defocus: average s x s blocks, blur the small image, interpolate back
    s = max(int(sigma_px // 3), 2)
    ph, pw = (padded.shape[0] // s) * s, (padded.shape[1] // s) * s
    small = padded[:ph, :pw].reshape(ph // s, s, pw // s, s).mean(axis=(1, 3))
    sig_small = math.sqrt(max(sigma_px**2 - (s * s - 1) / 12.0, 0.25)) / s
    small = ndimage.gaussian_filter(small, sig_small, mode="nearest", truncate=3.0)
    rows = (pad + fr + np.arange(h, dtype=np.float32) - (s - 1) / 2) / s
    cols = (pad + fc + np.arange(w, dtype=np.float32) - (s - 1) / 2) / s
    return _interp_rows(_interp_rows(small, rows).T, cols).T.copy()


def _interp_rows(a: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of the rows of ``a`` at fractional row positions ``pos``."""
    pos = np.clip(pos, 0, a.shape[0] - 1.001)
    i0 = pos.astype(np.int64)
    f = (pos - i0).astype(np.float32)[:, None]
    return a[i0] * (1 - f) + a[i0 + 1] * f
