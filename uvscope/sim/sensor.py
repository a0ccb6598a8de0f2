"""The camera: EMVA 1288 linear model from photo-electrons to 14-bit digital numbers."""

from __future__ import annotations

import numpy as np

from uvscope.sim.optics import SensorParams


class Sensor:
    """Shot noise, read noise, dark current, PRNU, gain, offset, full well and ADC clip."""

    def __init__(self, params: SensorParams, shape: tuple[int, int], bit_depth: int):
        self.params = params
        self.shape = shape
        self.max_dn = float(2**bit_depth - 1)
        rng = np.random.default_rng(params.sensor_seed)
        # fixed per pixel: the same sensor gives the same pattern in every frame
        self.prnu_map = (1.0 + params.prnu * rng.standard_normal(shape)).astype(np.float32)

    def expose(self, signal_e: np.ndarray | None, exposure_ms: float,
               rng: np.random.Generator) -> np.ndarray:
        """Digitise a mean photo-electron image (None: no light) into a uint16 frame."""
        p = self.params
        dark_e = p.dark_current_e_per_s * exposure_ms * 1e-3
        if signal_e is None:
            mean = np.float32(dark_e)
            e = rng.poisson(dark_e, self.shape).astype(np.float32)
        else:
            mean = signal_e * self.prnu_map + np.float32(dark_e)
            if float(mean.mean()) < p.poisson_below_e:
                e = rng.poisson(mean).astype(np.float32)
            else:  # Gaussian limit of the Poisson distribution, much faster
                e = rng.standard_normal(self.shape, dtype=np.float32)
                e *= np.sqrt(mean)
                e += mean
        np.minimum(e, np.float32(p.full_well_e), out=e)
        read = rng.standard_normal(self.shape, dtype=np.float32)
        read *= np.float32(p.read_noise_e)
        e += read
        e *= np.float32(p.gain_dn_per_e)
        e += np.float32(p.offset_dn)
        np.rint(e, out=e)
        np.clip(e, 0.0, self.max_dn, out=e)
        del mean
        return e.astype(np.uint16)
