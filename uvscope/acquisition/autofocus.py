"""Image-based autofocus: a coarse-to-fine z sweep scored by a focus metric, parabola refined.

The deep-UV objective has a depth of field of only ~1.4 um while a slide is tilted and bowed
by tens of um over a smear, so every scan needs focus found from the images themselves.
A sweep never leaves the focus axis's soft limits: the upper limit keeps the objective off the
slide, so the sweep range is clipped to the limits before the first move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from uvscope.drivers.rig import Rig
from uvscope.errors import ConfigError, ScanAborted

#: depth of field of the deep-UV objective (lambda / NA^2 plus the pixel term), um
DEPTH_OF_FIELD_UM = 1.4


def normalised_variance(img: np.ndarray) -> float:
    """Variance over mean squared: insensitive to illumination level (Groen et al. 1985)."""
    a = np.asarray(img, dtype=np.float64)
    m = a.mean()
    return float(a.var() / (m * m)) if m > 0 else 0.0


def brenner(img: np.ndarray) -> float:
    """Brenner gradient: mean squared difference of pixels two columns apart, over mean^2."""
    a = np.asarray(img, dtype=np.float64)
    m = a.mean()
    d = a[:, 2:] - a[:, :-2]
    return float((d * d).mean() / (m * m)) if m > 0 else 0.0


def vollath_f4(img: np.ndarray) -> float:
    """Vollath F4 autocorrelation (lag 1 minus lag 2), over mean^2; robust to noise."""
    a = np.asarray(img, dtype=np.float64)
    m = a.mean()
    if m <= 0:
        return 0.0
    c = a - m  # over the same pixels at both lags, so the mean level and edges cancel
    f = (c[:, :-2] * c[:, 1:-1]).mean() - (c[:, :-2] * c[:, 2:]).mean()
    return float(f / (m * m))


def noise_variance(img: np.ndarray) -> float:
    """Pixel noise variance from the median absolute lag-1 difference along rows.

    Most pixel pairs of a smear field lie inside a cell or on glass, so the median difference
    is noise; edges are the minority and barely move it. Differences of neighbours centre on
    zero, and every fourth row is enough (a few ms on a full frame).
    """
    a = np.asarray(img, dtype=np.float32)
    step = 4 if a.shape[0] >= 64 else 1
    d = a[::step, 1:] - a[::step, :-1]
    if d.size == 0:
        return 0.0
    mad = float(np.median(np.abs(d)))
    sigma = mad / 0.6745
    return sigma * sigma / 2.0


@dataclass(frozen=True)
class Sharpness:
    """Focus of one image independent of how much is in it.

    ``ratio``: fine-detail energy (Brenner, lag 2, both axes) over the field's total structure
    energy (variance), both with the noise taken out. A sparse field and a crowded one of the
    same cells have the same ratio; defocus lowers it (about 0.6 of its in-focus value at one
    depth of field). ``snr``: structure variance over noise variance, ~0 on blank glass.
    ``detail``: the fine-detail energy over mean^2, to compare one field at several z.
    """

    ratio: float
    snr: float
    detail: float


def sharpness(img: np.ndarray) -> Sharpness:
    a = np.asarray(img, dtype=np.float32)
    m = float(a.mean(dtype=np.float64))
    var = float(a.var(dtype=np.float64))
    dx = a[:, 2:] - a[:, :-2]
    dy = a[2:, :] - a[:-2, :]
    fine = 0.5 * (
        float(np.mean(dx * dx, dtype=np.float64)) + float(np.mean(dy * dy, dtype=np.float64))
    )
    noise = noise_variance(a)
    structure = var - noise
    detail = fine - 2.0 * noise  # white noise adds 2 sigma^2 to a lag-2 difference
    if structure <= 0:
        return Sharpness(0.0, 0.0, detail / (m * m) if m > 0 else 0.0)
    snr = structure / noise if noise > 0 else float("inf")
    return Sharpness(detail / structure, snr, detail / (m * m) if m > 0 else 0.0)


METRICS: dict[str, Callable[[np.ndarray], float]] = {
    "normalised_variance": normalised_variance,
    "brenner": brenner,
    "vollath_f4": vollath_f4,
}


def focus_metric(name: str) -> Callable[[np.ndarray], float]:
    try:
        return METRICS[name]
    except KeyError:
        raise ConfigError(
            f"focus.metric: unknown metric {name!r}; use one of {sorted(METRICS)}"
        ) from None


@dataclass(frozen=True)
class SweepSettings:
    """How to sweep: a coarse pass over ``range_um``, then a fine pass around its peak."""

    range_um: float = 40.0
    steps: int = 11
    fine_range_um: float = 6.0
    fine_steps: int = 9
    metric: str = "normalised_variance"
    #: peak score over the sweep's lowest score below which no focus is trusted (blank field)
    min_contrast: float = 1.15


@dataclass
class AutofocusResult:
    """Where focus was found, how sharp it was, and every (z, score) measured on the way."""

    z_um: float
    score: float
    found: bool
    x_mm: float
    y_mm: float
    samples: list[tuple[float, float]] = field(default_factory=list)
    clipped: bool = False
    message: str = ""
    #: content-independent sharpness of the last frame, taken at ``z_um``
    sharpness: Sharpness | None = None

    @property
    def contrast(self) -> float:
        """Best over worst score of the sweep (inf when the worst is not positive)."""
        scores = [s for _, s in self.samples]
        lo = min(scores) if scores else 0.0
        return max(scores) / lo if lo > 0 else float("inf")


def parabola_peak(zs: np.ndarray, scores: np.ndarray) -> float | None:
    """Vertex of the least-squares parabola through (z, score); None if it opens upwards."""
    if len(zs) < 3:
        return None
    a, b, _ = np.polyfit(zs, scores, 2)
    if a >= 0:
        return None
    return float(-b / (2 * a))


def has_peak(scores: np.ndarray, min_contrast: float) -> bool:
    """Whether the best score stands out: max / min >= ``min_contrast`` for positive scores
    (written as a prominence so metrics that dip below zero, like Vollath F4, work too)."""
    hi, lo = float(np.max(scores)), float(np.min(scores))
    return hi > 0 and (hi - lo) / hi >= 1.0 - 1.0 / min_contrast


def sweep_positions(
    centre_um: float, range_um: float, steps: int, limits_um: tuple[float, float]
) -> tuple[np.ndarray, bool]:
    """``steps`` z positions over ``range_um`` around ``centre_um``, kept inside the limits.

    The window is shifted, then shrunk, to fit the soft limits; ``clipped`` says it was.
    """
    lo, hi = limits_um
    half = range_um / 2
    a, b = centre_um - half, centre_um + half
    clipped = False
    if a < lo:
        a, b, clipped = lo, min(hi, lo + range_um), True
    if b > hi:
        a, b, clipped = max(lo, hi - range_um), hi, True
    return np.linspace(a, b, max(2, steps)), clipped


class Autofocus:
    """Finds focus at a stage position with the rig's camera, at one wavelength.

    ``normalise`` (e.g. the scan's background division) removes the illumination field
    before scoring, so vignetting does not pass for sharpness. ``should_stop`` is polled
    between frames so an abort is honoured in the middle of a sweep.
    """

    def __init__(
        self,
        rig: Rig,
        settings: SweepSettings,
        wavelength_nm: int,
        exposure_ms: float,
        normalise: Callable[[np.ndarray], np.ndarray] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.rig = rig
        self.settings = settings
        self.metric = focus_metric(settings.metric)
        self.wavelength_nm = wavelength_nm
        self.exposure_ms = exposure_ms
        self.normalise = normalise
        self.should_stop = should_stop
        self.frames = 0
        self.last_image: np.ndarray | None = None

    def score_image(self, raw: np.ndarray) -> float:
        img = self.normalise(raw) if self.normalise is not None else raw
        self.last_image = img
        return self.metric(img)

    def _score_at(self, z_um: float) -> float:
        if self.should_stop():
            raise ScanAborted("scan aborted by the user during autofocus")
        self.rig.focus.move_to_um(z_um)
        self.frames += 1
        return self.score_image(self.rig.camera.snap().image)

    def _sweep(self, zs: np.ndarray, samples: list[tuple[float, float]]) -> np.ndarray:
        scores = np.array([self._score_at(float(z)) for z in zs])
        samples.extend(zip(map(float, zs), map(float, scores), strict=True))
        return scores

    def run(self, x_mm: float, y_mm: float, centre_um: float | None = None) -> AutofocusResult:
        """Move to (x, y), sweep coarse then fine around ``centre_um`` (default: current z)."""
        rig, st = self.rig, self.settings
        limits = rig.focus.limits_um
        rig.stage.move_to_mm(x_mm, y_mm)
        rig.filter_wheel.move_to_wavelength(self.wavelength_nm)
        if rig.camera.exposure_ms != self.exposure_ms:
            rig.camera.set_exposure_ms(self.exposure_ms)
        z0 = rig.focus.position_um() if centre_um is None else centre_um
        z0 = min(max(z0, limits[0]), limits[1])
        samples: list[tuple[float, float]] = []
        zs, clipped = sweep_positions(z0, st.range_um, st.steps, limits)
        scores = self._sweep(zs, samples)
        k = int(np.argmax(scores))
        if not has_peak(scores, st.min_contrast):
            rig.focus.move_to_um(z0)
            return AutofocusResult(
                z0,
                float(scores[k]),
                False,
                x_mm,
                y_mm,
                samples,
                clipped,
                "no focus peak: the field has too little structure",
            )
        around = slice(max(0, k - 1), k + 2)
        coarse = parabola_peak(zs[around], scores[around])
        centre = coarse if coarse is not None and zs[0] <= coarse <= zs[-1] else float(zs[k])
        fz, fclipped = sweep_positions(centre, st.fine_range_um, st.fine_steps, limits)
        fscores = self._sweep(fz, samples)
        j = int(np.argmax(fscores))
        around = slice(max(0, j - 2), j + 3)
        peak = parabola_peak(fz[around], fscores[around])
        if peak is None or not fz[0] <= peak <= fz[-1]:
            peak = float(fz[j])
        message = ""
        at_edge = k == 0 or k == len(zs) - 1
        if at_edge:
            message = "focus peak at the edge of the sweep; widen focus.sweep_range_um"
        z_best = min(max(peak, limits[0]), limits[1])
        score = self._score_at(z_best)
        final = sharpness(self.last_image) if self.last_image is not None else None
        return AutofocusResult(
            z_best, score, not at_edge, x_mm, y_mm, samples, clipped or fclipped, message, final
        )
