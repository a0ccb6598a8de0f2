"""The camera: EMVA 1288 linear model from photo-electrons to 14-bit digital numbers."""

from __future__ import annotations

import math

import numpy as np

from uvscope.sim.optics import SensorParams


def standard_normal_f32(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Gaussian noise by Box-Muller on float32 uniforms: about twice as fast as
    ``Generator.standard_normal`` for camera-sized frames, with the same distribution."""
    n = shape[0] * shape[1]
    m = (n + 1) // 2
    r = rng.random(m, dtype=np.float32)
    np.subtract(np.float32(1.0), r, out=r)  # (0, 1]: log is finite
    np.log(r, out=r)
    r *= np.float32(-2.0)
    np.sqrt(r, out=r)
    theta = rng.random(m, dtype=np.float32)
    theta *= np.float32(2.0 * math.pi)
    out = np.empty(2 * m, np.float32)
    np.cos(theta, out=out[:m])
    np.sin(theta, out=out[m:])
    out[:m] *= r
    out[m:] *= r
    return out[:n].reshape(shape)


class Sensor:
    """Shot noise, read noise, dark current, PRNU, gain, offset, full well and ADC clip."""

    def __init__(self, params: SensorParams, shape: tuple[int, int], bit_depth: int):
        self.params = params
        self.shape = shape
        self.max_dn = float(2**bit_depth - 1)
        rng = np.random.default_rng(params.sensor_seed)
        # fixed per pixel: the same sensor gives the same pattern in every frame
        self.prnu_map = (1.0 + params.prnu * rng.standard_normal(shape)).astype(np.float32)

    def expose(
        self, signal_e: np.ndarray | None, exposure_ms: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Digitise a mean photo-electron image (None: no light) into a uint16 frame.

        ``signal_e`` may be overwritten (it is the caller's scratch array)."""
        p = self.params
        read2 = np.float32(p.read_noise_e**2)
        dark_e = p.dark_current_e_per_s * exposure_ms * 1e-3
        if signal_e is None:
            # dark current is a tiny Poisson count; read noise dominates
            e = rng.poisson(dark_e, self.shape).astype(np.float32)
            e += standard_normal_f32(rng, self.shape) * np.float32(p.read_noise_e)
        else:
            mean = signal_e
            mean *= self.prnu_map
            mean += np.float32(dark_e)
            if float(mean.mean()) < p.poisson_below_e:
                e = rng.poisson(mean).astype(np.float32)
                e += standard_normal_f32(rng, self.shape) * np.float32(p.read_noise_e)
            else:
                # Gaussian limit of Poisson shot noise, plus read noise, in one draw
                np.minimum(mean, np.float32(p.full_well_e), out=mean)
                sd = mean + read2
                np.sqrt(sd, out=sd)
                e = standard_normal_f32(rng, self.shape)
                e *= sd
                e += mean
        e *= np.float32(p.gain_dn_per_e)
        e += np.float32(p.offset_dn)
        np.rint(e, out=e)
        np.clip(e, 0.0, self.max_dn, out=e)
        return e.astype(np.uint16)
