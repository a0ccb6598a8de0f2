"""SimWorld: the slide under the simulated microscope, seen by the simulated camera.

``render`` gives the raw uint16 frame a camera would read at a stage position, focus and
wavelength; ``ground_truth`` gives the labels, cell records and Giemsa-like colour of the same
field (white cells, red cells with their haemoglobin and morphology, platelets with their
clumps); ``cells_in_region`` / ``rbcs_in_region`` / ``platelets_in_region`` give the truth of
an area (a scan's). Image orientation follows ``uvscope.geometry``: column grows with stage
x, row with stage y, the position is the image centre.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from uvscope.config import CameraConfig, SimConfig
from uvscope.errors import ConfigError
from uvscope.sim.cells import RBC, Platelet
from uvscope.sim.donors import DonorProfile, get_donor
from uvscope.sim.optics import OpticsParams, blur_and_crop, blur_pad_px, illumination_field
from uvscope.sim.sensor import Sensor
from uvscope.sim.slide import SlideLayout, VirtualSlide
from uvscope.sim.stain import StainParams, render_stain
from uvscope.sim.wbc import WBC


@dataclass(frozen=True)
class CellRecord:
    """One cell of the ground truth. RBC records (kind "rbc"/"sickle_rbc") carry the RBC's
    id (its own id space: see ``rbcs_in_region`` for the full red-cell truth)."""

    id: int
    kind: str
    dead: bool
    centroid_mm: tuple[float, float]
    diameter_um: float
    death: str | None = None  # "pyknotic" / "karyorrhexis"
    large: bool = False  # large lymphocyte


@dataclass(frozen=True)
class RBCRecord:
    """One red cell of the ground truth (its id is its value in ``rbc_labels``)."""

    id: int
    morph: str  # one of uvscope.classes.RBC_CLASSES
    hb_pg: float
    diameter_um: float  # equivalent-area diameter of its outline
    area_um2: float
    centroid_mm: tuple[float, float]
    overlapped: bool  # another RBC covers more than OVERLAP_MIN_FRACTION of it (or it of one)
    major_um: float  # full axes (a sickle's length and width; a fragment's parent diameter)
    minor_um: float


@dataclass(frozen=True)
class PlateletRecord:
    """One platelet of the ground truth (its id is its value in ``platelet_labels``)."""

    id: int
    clump_id: int  # -1 alone; else shared by every platelet of the clump
    centroid_mm: tuple[float, float]
    diameter_um: float


@dataclass
class GroundTruth:
    cell_labels: np.ndarray  # int32 (H, W), WBC instance ids, 0 = background
    nucleus_labels: np.ndarray  # int32 (H, W), same id as the cell
    rbc_mask: np.ndarray  # bool (H, W)
    cells: list[CellRecord]
    stained_rgb: np.ndarray  # uint8 (H, W, 3)
    #: int32 (H, W) RBC ids, 0 = none; where RBCs overlap the larger id wins the pixel
    rbc_labels: np.ndarray | None = None
    #: int32 (H, W) platelet ids, 0 = none
    platelet_labels: np.ndarray | None = None
    #: every RBC / platelet with a pixel in the field (ids as in the label maps)
    rbcs: list[RBCRecord] = field(default_factory=list)
    platelets: list[PlateletRecord] = field(default_factory=list)


def rbc_record(r: RBC) -> RBCRecord:
    return RBCRecord(
        r.id,
        r.morph,
        r.hb_pg,
        r.diameter_um,
        r.area_um2,
        (r.cx * 1e-3, r.cy * 1e-3),
        r.overlapped,
        2 * max(r.a, r.b),
        2 * min(r.a, r.b),
    )


def platelet_record(p: Platelet) -> PlateletRecord:
    return PlateletRecord(p.id, p.clump_id, (p.cx * 1e-3, p.cy * 1e-3), p.diameter_um)


def _record(w: WBC) -> CellRecord:
    return CellRecord(
        w.id, w.kind, w.dead is not None, (w.cx * 1e-3, w.cy * 1e-3), w.diameter_um, w.dead, w.large
    )


#: the largest camera frame the simulator renders (its memory budget: ~30 float32 frames
#: of this size are alive while one renders)
MAX_FRAME_PX = 16 * 10**6


class SimWorld:
    """A virtual smear (seed + donor), the optics and the camera of the simulated rig."""

    def __init__(
        self,
        sim: SimConfig,
        camera: CameraConfig,
        optics: OpticsParams | None = None,
        *,
        donor: DonorProfile | None = None,
        layout: SlideLayout | None = None,
        stain: StainParams | None = None,
    ):
        self.sim, self.camera = sim, camera
        self.optics = optics or OpticsParams()
        self.donor = donor or get_donor(sim.donor)
        self.stain = stain or StainParams()
        self.pixel_size_um = float(camera.pixel_size_um)
        self.width_px, self.height_px = int(camera.width_px), int(camera.height_px)
        if self.width_px * self.height_px > MAX_FRAME_PX:
            raise ConfigError(
                f"camera.width_px x height_px = {self.width_px} x {self.height_px}: the "
                f"simulator renders at most {MAX_FRAME_PX // 10**6} Mpx a frame (its memory "
                "budget); the pco.ultraviolet has 1392 x 1040"
            )
        ps_mm = self.pixel_size_um * 1e-3
        fov = (self.width_px * ps_mm, self.height_px * ps_mm)
        self.slide = VirtualSlide(
            sim,
            self.donor,
            self.optics,
            layout,
            blank_min_mm=(max(0.4, 1.6 * fov[0]), max(0.3, 1.6 * fov[1])),
        )
        self.sensor = Sensor(self.optics.sensor, (self.height_px, self.width_px), camera.bit_depth)
        self._illum: dict[int, np.ndarray] = {}
        # the camera may render on a worker thread while a GUI asks for ground truth
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ geometry
    @property
    def max_blur_sigma_px(self) -> float:
        """The memory budget of a defocused frame: the blurred window is at most three
        fields wide and tall. Beyond this blur (tens of um) the field is all but uniform,
        so clamping it changes the picture by little and keeps any z inside the limits
        (and any stage position) rendering in bounded memory."""
        return (max(self.width_px, self.height_px) - 3) / 4.0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height_px, self.width_px)

    def smear_centre_mm(self) -> tuple[float, float]:
        ox, oy = self.sim.slide_origin_mm
        return (ox + self.sim.slide_size_mm[0] / 2, oy + self.sim.slide_size_mm[1] / 2)

    def surface_z_um(self, x_mm: float, y_mm: float) -> float:
        """Best-focus z (260 nm) of the slide surface: tilted and slightly bowed."""
        cx, cy = self.smear_centre_mm()
        dx, dy = x_mm - cx, y_mm - cy
        tx, ty = self.sim.tilt_um_per_mm
        return float(
            self.sim.focus_z_um
            + tx * dx
            + ty * dy
            + self.sim.curvature_um_per_mm2 * (dx * dx + dy * dy)
        )

    def best_focus_um(self, x_mm: float, y_mm: float, wavelength_nm: int = 260) -> float:
        """Focus position that images (x, y) sharply at ``wavelength_nm``."""
        return self.surface_z_um(x_mm, y_mm) + self.optics.focal_shift_um[wavelength_nm]

    def blank_position_mm(self) -> tuple[float, float]:
        """Centre of a cell-free patch that holds a whole camera field."""
        rects = self.slide.blank_rects_um
        if rects:
            x0, y0, x1, y1 = rects[0]
            return ((x0 + x1) / 2e3, (y0 + y1) / 2e3)
        # no blank patch on the smear: clean glass just beside it
        ox, _ = self.sim.slide_origin_mm
        return (ox - 1.0, self.smear_centre_mm()[1])

    def blank_regions_mm(self) -> list[tuple[float, float, float, float]]:
        return [(a / 1e3, b / 1e3, c / 1e3, d / 1e3) for a, b, c, d in self.slide.blank_rects_um]

    def _origin(
        self, x_mm: float, y_mm: float, dx_um: float = 0.0, dy_um: float = 0.0
    ) -> tuple[float, float]:
        """Continuous global pixel (row, col) of the field's top-left pixel."""
        ps = self.pixel_size_um
        col = (x_mm * 1e3 + dx_um) / ps - (self.width_px - 1) / 2
        row = (y_mm * 1e3 + dy_um) / ps - (self.height_px - 1) / 2
        return row, col

    # ------------------------------------------------------------------ imaging
    def _check_wavelength(self, wavelength_nm: int) -> None:
        if wavelength_nm not in self.optics.absorptivity_cm2_g:
            raise ConfigError(
                f"the simulator has no optics for {wavelength_nm} nm; "
                f"use one of {sorted(self.optics.absorptivity_cm2_g)}"
            )

    def illumination(self, wavelength_nm: int) -> np.ndarray:
        """Mean photo-electrons per ms per pixel of an empty field (PRNU excluded)."""
        hit = self._illum.get(wavelength_nm)
        if hit is None:
            q = self.optics.sensor.quantum_efficiency[wavelength_nm]
            rate = self.optics.photons_per_ms(wavelength_nm, self.pixel_size_um) * q
            hit = illumination_field(self.optics, wavelength_nm, self.shape) * np.float32(rate)
            self._illum[wavelength_nm] = hit
        return hit

    def suggest_exposure_ms(self, wavelength_nm: int, fill: float = 0.5) -> float:
        """Exposure filling ``fill`` of the full well at the brightest pixel of an empty field."""
        self._check_wavelength(wavelength_nm)
        peak = float(self.illumination(wavelength_nm).max())
        return fill * self.optics.sensor.full_well_e / peak

    def _transmission_padded(self, r0: int, c0: int, pad: int, wavelength_nm: int) -> np.ndarray:
        h, w = self.height_px + 2 * pad, self.width_px + 2 * pad
        m = self.slide.window(self.pixel_size_um, r0 - pad, c0 - pad, h, w, (wavelength_nm,))
        return m[wavelength_nm]

    def transmission(self, x_mm: float, y_mm: float, z_um: float, wavelength_nm: int) -> np.ndarray:
        """Noise-free transmitted fraction of the field through the objective (blurred)."""
        self._check_wavelength(wavelength_nm)
        o = self.optics
        dz = z_um - self.surface_z_um(x_mm, y_mm) - o.focal_shift_um[wavelength_nm]
        sigma_px = min(
            o.psf_sigma_um(wavelength_nm, dz) / self.pixel_size_um, self.max_blur_sigma_px
        )
        sx, sy = o.lateral_shift_um[wavelength_nm]
        # the image at this wavelength shows the object displaced by (sx, sy)
        row, col = self._origin(x_mm, y_mm, -sx, -sy)
        r0, c0 = math.floor(row), math.floor(col)
        pad = blur_pad_px(sigma_px)
        with self._lock:
            padded = self._transmission_padded(r0, c0, pad, wavelength_nm)
        return blur_and_crop(padded, pad, self.shape, sigma_px, (row - r0, col - c0))

    def render(
        self,
        x_mm: float,
        y_mm: float,
        z_um: float,
        wavelength_nm: int | None,
        exposure_ms: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """The raw uint16 frame at stage (x, y), focus z; ``None`` = blocked slot (dark)."""
        if exposure_ms <= 0:
            raise ConfigError(f"exposure must be positive, got {exposure_ms} ms")
        if wavelength_nm is None:
            return self.sensor.expose(None, exposure_ms, rng)
        trans = self.transmission(x_mm, y_mm, z_um, wavelength_nm)
        trans *= self.illumination(wavelength_nm)
        trans *= np.float32(exposure_ms)
        return self.sensor.expose(trans, exposure_ms, rng)

    # ------------------------------------------------------------------ ground truth
    def _gt_window(
        self, x_mm: float, y_mm: float, names: tuple[str, ...]
    ) -> dict[str | int, np.ndarray]:
        row, col = self._origin(x_mm, y_mm)
        return self.slide.window(
            self.pixel_size_um, round(row), round(col), self.height_px, self.width_px, names
        )

    def ground_truth(self, x_mm: float, y_mm: float) -> GroundTruth:
        """Labels, cell records and Giemsa-like colour of the field centred at (x, y)."""
        ps = self.pixel_size_um
        hw, hh = self.width_px * ps / 2 + 15.0, self.height_px * ps / 2 + 15.0
        box = (x_mm * 1e3 - hw, y_mm * 1e3 - hh, x_mm * 1e3 + hw, y_mm * 1e3 + hh)
        names = ("na", "prot", "hb", "cell", "nuc", "rbc_id", "plt_id")
        with self._lock:
            m = self._gt_window(x_mm, y_mm, names)
            cands = self.slide.wbcs_in_box(*box)
            rbcs = self.slide.rbcs_in_box(*box)
            plts = self.slide.platelets_in_box(*box)
        cell = m["cell"]
        present = set(np.unique(cell[::2, ::2]).tolist()) if cands else set()
        cells = []
        for w in cands:
            if w.id not in present and not (cell == w.id).any():
                continue
            cells.append(_record(w))
        rbc_ids, plt_ids = m["rbc_id"], m["plt_id"]
        seen_rbc = set(np.unique(rbc_ids).tolist())
        seen_plt = set(np.unique(plt_ids).tolist())
        rgb = render_stain(m["na"], m["prot"], m["hb"], self.stain)
        return GroundTruth(
            cell,
            m["nuc"],
            rbc_ids > 0,
            cells,
            rgb,
            rbc_ids,
            plt_ids,
            [rbc_record(r) for r in rbcs if r.id in seen_rbc],
            [platelet_record(p) for p in plts if p.id in seen_plt],
        )

    def rbcs_in_region(
        self, x0_mm: float, y0_mm: float, x1_mm: float, y1_mm: float
    ) -> list[RBCRecord]:
        """Every RBC whose centre lies in the box (mm): ids, class, hb, size, overlap flag."""
        xa, xb = sorted((x0_mm * 1e3, x1_mm * 1e3))
        ya, yb = sorted((y0_mm * 1e3, y1_mm * 1e3))
        with self._lock:
            return [rbc_record(r) for r in self.slide.rbcs_in_box(xa, ya, xb, yb)]

    def platelets_in_region(
        self, x0_mm: float, y0_mm: float, x1_mm: float, y1_mm: float
    ) -> list[PlateletRecord]:
        """Every platelet whose centre lies in the box (mm), with its clump id."""
        xa, xb = sorted((x0_mm * 1e3, x1_mm * 1e3))
        ya, yb = sorted((y0_mm * 1e3, y1_mm * 1e3))
        with self._lock:
            return [platelet_record(p) for p in self.slide.platelets_in_box(xa, ya, xb, yb)]

    def cells_in_region(
        self, x0_mm: float, y0_mm: float, x1_mm: float, y1_mm: float, include_rbc: bool = False
    ) -> list[CellRecord]:
        """Every WBC (and RBC when asked) whose centroid lies in the box."""
        with self._lock:
            xa, xb = sorted((x0_mm * 1e3, x1_mm * 1e3))
            ya, yb = sorted((y0_mm * 1e3, y1_mm * 1e3))
            out = [_record(w) for w in self.slide.wbcs_in_box(xa, ya, xb, yb)]
            if include_rbc:
                xs, ys = self.slide.chunk_range(xa, ya, xb, yb)
                for iy in ys:
                    for ix in xs:
                        for r in self.slide.chunk(ix, iy).rbcs:
                            if xa <= r.cx < xb and ya <= r.cy < yb:
                                kind = "sickle_rbc" if r.sickle else "rbc"
                                out.append(
                                    CellRecord(
                                        r.id,
                                        kind,
                                        False,
                                        (r.cx * 1e-3, r.cy * 1e-3),
                                        2 * max(r.a, r.b),
                                    )
                                )
        return out
