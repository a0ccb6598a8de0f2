"""Rig and scan configuration: typed, frozen models loaded from TOML with clear errors.

Every model forbids unknown keys, so a misspelt field in a config file is an error that names
the field instead of a silently ignored setting.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self, TypeVar, get_args

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from uvscope.errors import ConfigError, ConfigValueError

WAVELENGTHS_NM: tuple[int, ...] = (260, 280, 300)
#: positions of a Thorlabs FW102C, the default wheel (an FW212C has 12)
FW102C_POSITIONS = 6

#: specific absorptivity of oxy-haemoglobin, cm^2/g (decadic: OD = value x mass per area in
#: g/cm^2; 1 pg/um^2 = 1e-4 g/cm^2), per wavelength in nm: Prahl's molar extinction table
#: (OMLC, "Optical absorption of hemoglobin") over 64,500 g/mol, as in
#: shared/reference/simulator-physics.md. One definition: the simulator's optics draws red
#: cells with it and the analysis turns integrated OD into haemoglobin mass with the rig's
#: ``haemoglobin_absorptivity_cm2_g`` (this by default).
HAEMOGLOBIN_ABSORPTIVITY_CM2_G: dict[int, float] = {260: 1_804.0, 280: 2_046.0, 300: 1_023.0}


def _wants_number(annotation: Any) -> bool:
    """Whether a field of this type holds numbers (int/float, alone, optional or in a tuple,
    list or dict value)."""
    if annotation is bool:
        return False
    if annotation in (int, float):
        return True
    return any(_wants_number(a) for a in get_args(annotation) if a is not Ellipsis)


def _wants_bool(annotation: Any) -> bool:
    """Whether a field holds a boolean (alone or optional)."""
    return annotation is bool or (
        bool(get_args(annotation)) and set(get_args(annotation)) <= {bool, type(None)}
    )


def _holds_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_bool(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_bool(v) for v in value.values())
    return False


class Model(BaseModel):
    """Base of all config models: frozen, strict about unknown keys, numbers that are numbers.

    Pydantic would read ``exposure_ms = true`` as 1 ms and accept ``nan``; both are refused
    here with the field's name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_are_not_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _wants_number(field.annotation) and _holds_bool(value):
            raise ValueError(f"{value!r}: true/false is not a number")
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_are_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        """``save_raw = "yes"`` or ``flip_x = 1`` is refused: pydantic would read both as
        true, and a quoted "false" as false, so a typo would silently decide the setting."""
        field = cls.model_fields.get(info.field_name or "")
        if (
            field is not None
            and _wants_bool(field.annotation)
            and value is not None
            and type(value).__name__ not in ("bool", "bool_")  # numpy's bool too
        ):
            raise ValueError(f"{value!r} is not a boolean: write true or false (no quotes)")
        return value

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated again (a ConfigError naming the
        field when a change is invalid: changes often come from the command line)."""
        try:
            return type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as err:
            raise ConfigValueError(_format_validation(err, type(self).__name__)) from None


# --------------------------------------------------------------------------- rig


class DeviceModel(Model):
    """A device section: fields whose description starts with ``"<backend>: "`` belong to
    that backend, and setting one for another backend is an error, not an ignored value
    (a simulated camera given ``interface = "GigE"``, a simulated wheel given a ``port``)."""

    @model_validator(mode="after")
    def _backend_fields(self) -> DeviceModel:
        backend = getattr(self, "backend", None)
        wrong = []
        for name, info in type(self).model_fields.items():
            owner, sep, _ = (info.description or "").partition(": ")
            if (
                sep
                and owner in BACKENDS
                and owner != backend
                and (getattr(self, name) != info.get_default(call_default_factory=True))
            ):
                wrong.append(f"{name} (a {owner} setting)")
        if wrong:
            raise ValueError(
                f"backend is {backend!r}, so these do not apply: "
                f"{', '.join(wrong)}; remove them or change backend"
            )
        return self


BACKENDS = ("sim", "serial", "pco", "micromanager")


class CameraConfig(DeviceModel):
    backend: Literal["sim", "pco", "micromanager"] = "sim"
    width_px: int = Field(1392, gt=0, description="Sensor width in pixels")
    height_px: int = Field(1040, gt=0, description="Sensor height in pixels")
    bit_depth: int = Field(14, ge=8, le=16, description="ADC bit depth")
    pixel_size_um: float = Field(
        0.16, gt=0, description="Pixel size on the sample (camera pixel / magnification)"
    )
    exposure_min_ms: float = Field(0.1, gt=0)
    exposure_max_ms: float = Field(10_000.0, gt=0)
    readout_ms: float = Field(
        95.0, ge=0, description="Sensor readout after each exposure (pco.ultraviolet ~10 fps)"
    )
    flip_x: bool = Field(False, description="Mirror images left-right so +x on screen is +x stage")
    flip_y: bool = Field(False, description="Mirror images top-bottom so +y on screen is +y stage")
    # backend-specific
    interface: str = Field("USB 2.0", description="pco: camera interface")
    serial_number: int | None = Field(None, description="pco: camera serial number (optional)")
    roi_px: tuple[int, int, int, int] | None = Field(
        None,
        description="pco: sensor region x0, y0, x1, y1 in binned pixels (1-based, inclusive; "
        "the SDK's rule); none = the whole binned sensor",
    )
    binning: tuple[int, int] = Field(
        (1, 1), description="pco: binning in x and y (pixel_size_um is the unbinned pixel)"
    )
    trigger_mode: str = Field(
        "auto sequence",
        description="pco: trigger mode as the pco package names it (auto sequence, software "
        "trigger, external exposure start & software trigger, external exposure control)",
    )
    pixel_rate_hz: int | None = Field(
        None, gt=0, description="pco: sensor pixel rate, one the camera lists; none: its default"
    )

    @model_validator(mode="after")
    def _exposure_range(self) -> CameraConfig:
        if self.exposure_min_ms >= self.exposure_max_ms:
            raise ValueError("exposure_min_ms must be below exposure_max_ms")
        return self


class FilterWheelConfig(DeviceModel):
    backend: Literal["sim", "serial", "micromanager"] = "sim"
    slots: dict[str, int] = Field(
        default_factory=lambda: {"260": 1, "280": 2, "300": 3},
        description="Wavelength in nm (as a string key) -> 1-based wheel position",
    )
    dark_slot: int | None = Field(
        6, ge=1, description="A blocked position used for dark frames; none to skip darks"
    )
    position_count: int | None = Field(
        None,
        ge=2,
        description="Wheel positions: 6 (FW102C, the default) or 12 (FW212C) for sim and serial "
        "wheels; a micromanager state device may have any count, read from the core at "
        "connect (a count given here is checked against it)",
    )
    move_ms_per_slot: float = Field(
        1000.0,
        ge=0,
        description="Time to advance one slot at high speed (FW102C: about 1 s; timing model "
        "of the simulated wheel and the serial driver's move timeout)",
    )
    port: str | None = Field(None, description="serial: port, e.g. /dev/ttyUSB0")
    baudrate: int = Field(115200, description="serial: baud rate (FW102C: 115200 or 9600)")
    timeout_s: float = Field(10.0, gt=0, description="serial: longest wait for a move")
    reply_timeout_s: float = Field(1.0, gt=0, description="serial: wait for a reply to a query")
    retries: int = Field(
        2, ge=0, le=10, description="serial: repeats of a timed-out or garbled exchange"
    )
    high_speed: bool = Field(True, description="serial: speed=1 (fast moves) instead of speed=0")
    sensors_off_when_idle: bool = Field(
        True,
        description="serial: sensors=0 turns the position sensors off when idle (no stray light)",
    )
    trigger_output: bool = Field(
        False, description="serial: trig=1 emits a pulse when in position (else trig=0, input mode)"
    )

    @model_validator(mode="before")
    @classmethod
    def _thorlabs_count(cls, data: Any) -> Any:
        """Sim and serial wheels are Thorlabs FW102C/FW212C: 6 positions unless told 12."""
        if (
            isinstance(data, dict)
            and data.get("position_count") is None
            and data.get("backend", "sim") != "micromanager"
        ):
            return {**data, "position_count": FW102C_POSITIONS}
        return data

    @model_validator(mode="after")
    def _slots(self) -> FilterWheelConfig:
        count = self.position_count
        if self.backend != "micromanager" and count not in (6, 12):
            raise ValueError(
                "position_count must be 6 (FW102C) or 12 (FW212C) for a sim or serial wheel"
            )
        used: set[int] = set()
        for key, pos in self.slots.items():
            if not key.isdigit() or int(key) not in WAVELENGTHS_NM:
                raise ValueError(f"slots: unknown wavelength {key!r}; use one of {WAVELENGTHS_NM}")
            if pos < 1 or (count is not None and pos > count):
                raise ValueError(f"slots: position {pos} for {key} nm is outside 1..{count}")
            if pos in used:
                raise ValueError(f"slots: position {pos} is used twice")
            used.add(pos)
        if self.dark_slot is not None:
            if self.dark_slot in used:
                raise ValueError("dark_slot must not hold a filter")
            if count is not None and self.dark_slot > count:
                raise ValueError(f"dark_slot {self.dark_slot} is outside 1..{count}")
        return self

    @property
    def positions(self) -> int:
        """The position count of a sim or serial wheel (a Micro-Manager wheel's comes from
        its core at connect)."""
        if self.position_count is None:
            raise ConfigError(
                "filter_wheel.position_count: a micromanager wheel reads its count from the core"
            )
        return self.position_count

    def slot_for(self, wavelength_nm: int) -> int:
        try:
            return self.slots[str(wavelength_nm)]
        except KeyError:
            raise ConfigError(
                f"filter_wheel.slots has no filter for {wavelength_nm} nm; "
                f"configured: {sorted(self.slots)}"
            ) from None


class StageConfig(DeviceModel):
    backend: Literal["sim", "serial", "micromanager"] = "sim"
    x_limits_mm: tuple[float, float] = Field((0.0, 110.0), description="Soft limits of X")
    y_limits_mm: tuple[float, float] = Field((0.0, 75.0), description="Soft limits of Y")
    velocity_mm_s: float = Field(50.0, gt=0, le=250.0)
    acceleration_mm_s2: float = Field(500.0, gt=0, le=2000.0)
    settle_ms: float = Field(30.0, ge=0, description="Wait after a move before exposing")
    counts_per_mm: float = Field(20_000.0, gt=0, description="MLS203 on BBD10x/20x")
    port: str | None = Field(None, description="serial: APT controller port")
    x_bay: int = Field(0x21, description="serial: APT destination of X")
    y_bay: int = Field(0x22, description="serial: APT destination of Y")
    velocity_units_per_mm_s: float = Field(
        134_217.73, gt=0, description="serial: APT velocity units per mm/s (MLS203 on a BBD)"
    )
    accel_units_per_mm_s2: float = Field(
        13.744, gt=0, description="serial: APT acceleration units per mm/s^2 (MLS203 on a BBD)"
    )
    home_on_connect: bool = Field(
        False, description="serial: home X and Y on connect when the controller reports unhomed"
    )
    reply_timeout_s: float = Field(0.5, gt=0, description="serial: wait for an APT reply")
    retries: int = Field(2, ge=0, le=10, description="serial: repeats of a lost or garbled reply")
    keepalive_s: float = Field(
        0.5, gt=0, lt=1.0, description="serial: interval of MOT_ACK_DCSTATUSUPDATE (under 1 s)"
    )

    @model_validator(mode="after")
    def _limits(self) -> StageConfig:
        for name in ("x_limits_mm", "y_limits_mm"):
            lo, hi = getattr(self, name)
            if lo >= hi:
                raise ValueError(f"{name}: lower limit {lo} must be below upper limit {hi}")
        return self


class FocusConfig(DeviceModel):
    backend: Literal["sim", "serial", "micromanager"] = "sim"
    limits_um: tuple[float, float] = Field(
        (0.0, 10_000.0),
        description="Focus soft limits; the upper one keeps the objective off the slide",
    )
    velocity_um_s: float = Field(1000.0, gt=0)
    acceleration_um_s2: float = Field(10_000.0, gt=0)
    settle_ms: float = Field(20.0, ge=0)
    counts_per_um: float = Field(20.0, gt=0)
    port: str | None = Field(None, description="serial: APT port (same as stage if a third bay)")
    bay: int = Field(
        0x23, description="serial: APT destination of the focus channel (0x50 for its own unit)"
    )
    velocity_units_per_um_s: float = Field(
        134.21773, gt=0, description="serial: APT velocity units per um/s (20 counts/um, BBD)"
    )
    accel_units_per_um_s2: float = Field(
        0.013744, gt=0, description="serial: APT acceleration units per um/s^2 (BBD)"
    )
    home_on_connect: bool = Field(
        False, description="serial: home the focus axis on connect when unhomed"
    )

    @model_validator(mode="after")
    def _limits(self) -> FocusConfig:
        lo, hi = self.limits_um
        if lo >= hi:
            raise ValueError(f"limits_um: lower limit {lo} must be below upper limit {hi}")
        return self


class SimConfig(Model):
    """The simulated world behind the ``sim`` backends."""

    seed: int = Field(0, ge=0, description="Seed of the virtual slide (0 or more)")
    donor: str = Field("healthy", description="Donor profile name (see uvscope.sim.donors)")
    slide_origin_mm: tuple[float, float] = Field(
        (30.0, 20.0), description="Stage position of the smear's lower-left corner"
    )
    slide_size_mm: tuple[float, float] = Field((25.0, 25.0), description="Smear size")
    focus_z_um: float = Field(5000.0, description="Slide surface height at the smear centre")
    tilt_um_per_mm: tuple[float, float] = Field((1.5, -0.8), description="Slide tilt in x and y")
    curvature_um_per_mm2: float = Field(0.02, description="Bow of the slide surface")
    blank_regions: int = Field(3, ge=0, description="Cell-free patches on the smear")
    real_time: bool = Field(
        False, description="Run devices in real time instead of a virtual clock"
    )

    @field_validator("slide_size_mm")
    @classmethod
    def _positive_size(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError(f"both sides must be above 0 mm, got {list(v)}")
        return v


class RigConfig(Model):
    name: str = "simulated deep-UV rig"
    camera: CameraConfig = CameraConfig()
    filter_wheel: FilterWheelConfig = FilterWheelConfig()
    stage: StageConfig = StageConfig()
    focus: FocusConfig = FocusConfig()
    sim: SimConfig = SimConfig()
    micromanager: dict[str, Any] = Field(
        default_factory=dict, description="micromanager backend settings (see drivers.micromanager)"
    )
    haemoglobin_absorptivity_cm2_g: dict[int, float] = Field(
        default_factory=lambda: dict(HAEMOGLOBIN_ABSORPTIVITY_CM2_G),
        description="Oxy-haemoglobin specific absorptivity (cm^2/g, decadic) per wavelength "
        "(nm), for haemoglobin mass from integrated OD; default: Prahl's table (OMLC)",
    )
    rbc_edge_scatter_od_um: dict[int, float] = Field(
        default_factory=lambda: {260: 0.0186, 280: 0.0160, 300: 0.0140},
        description="Scattering absorbance at a red cell's edge integrated across it (OD x um) "
        "per wavelength (nm), subtracted times the cell's perimeter from its integrated OD "
        "before haemoglobin mass; default: the simulated rig's halo (0.03 OD x 0.35 um x "
        "sqrt(pi) x (260/nm)^2, docs/whole-smear.md); measure on a real rig, 0 if unknown",
    )

    @field_validator("micromanager")
    @classmethod
    def _micromanager_used(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """A ``[micromanager]`` table no device uses would be silently ignored: refuse it."""
        devices = [info.data.get(k) for k in ("camera", "filter_wheel", "stage", "focus")]
        if None in devices:  # a device section is itself invalid: that error says enough
            return v
        if v and not any(getattr(d, "backend", None) == "micromanager" for d in devices):
            raise ValueError(
                'no device has backend = "micromanager", so these settings would not be '
                "used; remove the [micromanager] table or set a device's backend"
            )
        return v


# --------------------------------------------------------------------------- scan


class RegionConfig(Model):
    """The area to scan: two corners, or a centre with a size or a tile count."""

    corners_mm: tuple[tuple[float, float], tuple[float, float]] | None = None
    center_mm: tuple[float, float] | None = None
    size_mm: tuple[float, float] | None = None
    rows: int | None = Field(None, gt=0)
    columns: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_form(self) -> RegionConfig:
        forms = [
            self.corners_mm is not None,
            self.center_mm is not None and self.size_mm is not None,
            self.center_mm is not None and self.rows is not None and self.columns is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "give exactly one of: corners_mm; center_mm + size_mm; center_mm + rows + columns"
            )
        if self.corners_mm is not None and (self.rows or self.columns or self.size_mm):
            raise ValueError("corners_mm cannot be combined with size_mm, rows or columns")
        if (self.rows is None) != (self.columns is None):
            raise ValueError("rows and columns go together")
        if self.size_mm is not None and (self.size_mm[0] <= 0 or self.size_mm[1] <= 0):
            raise ValueError("size_mm must be positive")
        if self.size_mm is not None and self.rows is not None:
            raise ValueError("give size_mm or rows + columns, not both")
        return self


class WavelengthConfig(Model):
    nm: int = Field(description="260, 280 or 300")
    exposure_ms: float = Field(50.0, gt=0, description="Exposure at this wavelength")
    focus_offset_um: float = Field(
        0.0,
        ge=-50,
        le=50,
        description="Best focus at this wavelength relative to the others (chromatic focal "
        "shift, um; +: higher z). Frames at this wavelength are taken at the tile's "
        "focus plus (this offset - the focus wavelength's offset). Measure with "
        "`uvscope focus calibrate`",
    )

    @model_validator(mode="after")
    def _nm(self) -> WavelengthConfig:
        if self.nm not in WAVELENGTHS_NM:
            raise ValueError(f"nm must be one of {WAVELENGTHS_NM}, got {self.nm}")
        return self


class BackgroundConfig(Model):
    position_mm: tuple[float, float] | None = Field(
        None, description="A blank region of the slide; default: the simulated slide's blank patch"
    )
    frames: int = Field(8, ge=1, le=256, description="Background frames averaged per wavelength")
    dark_frames: int = Field(8, ge=0, le=256, description="Dark frames averaged; 0 for none")
    repeat_every_tiles: int | None = Field(
        None, gt=0, description="Take the background again after this many tiles; none: never"
    )
    repeat_every_minutes: float | None = Field(
        None, gt=0, description="Take the background again after this many minutes; none: never"
    )
    drift_threshold_percent: float = Field(
        5.0,
        ge=0,
        le=100,
        description="Take the background again when the tiles' clear-field level drifts by more "
        "than this (illumination drift); 0: no drift check",
    )


class FocusPlanConfig(Model):
    """How each tile gets its focus: fixed, one autofocus, or a fitted focus map."""

    mode: Literal["auto", "fixed", "autofocus-once", "map"] = Field(
        "auto",
        description="auto (default): one autofocus for a scan of up to 4 tiles, else a focus "
        "map; fixed: z_um (or the current focus) for every tile (a large region is warned "
        "about: a tilted slide leaves most tiles out of focus); autofocus-once: one autofocus "
        "at the region centre; map: autofocus at map_points points where the field has "
        "structure and a fitted surface gives z for every tile, corrected locally by the "
        "per-tile focus check during the scan",
    )
    z_um: float | None = Field(None, description="Fixed focus; default: the current focus position")
    map_points: int | Literal["auto"] = Field(
        "auto",
        description="Autofocus points of the focus map (1-100); auto: a grid with points at "
        "most about 2 mm apart, at least 3 x 3 (9 points) on a region larger than 4 tiles",
    )
    surface: Literal["plane", "quadratic"] = Field(
        "quadratic",
        description="Surface fitted through the map points (quadratic needs 6 points; with "
        "fewer a plane, then a constant, is fitted)",
    )
    metric: Literal["normalised_variance", "brenner", "vollath_f4"] = Field(
        "normalised_variance", description="Focus metric scoring each image's sharpness"
    )
    wavelength_nm: int | None = Field(
        None, description="Wavelength to focus at; default: the scan's first wavelength"
    )
    sweep_range_um: float = Field(
        40.0, gt=0, le=2000, description="Width of the coarse autofocus sweep around the start z"
    )
    sweep_steps: int = Field(11, ge=3, le=201, description="Frames in the coarse sweep")
    fine_range_um: float = Field(
        6.0, gt=0, le=500, description="Width of the fine sweep around the coarse peak"
    )
    fine_steps: int = Field(9, ge=3, le=201, description="Frames in the fine sweep")
    min_contrast: float = Field(
        1.15,
        gt=1,
        description="Peak over lowest sweep score needed to trust a focus peak; "
        "below it the field is taken as blank",
    )
    refocus_threshold: float = Field(
        0.87,
        ge=0,
        lt=1,
        description="Check the focus of a tile whose focus ratio (fine detail over total "
        "structure, independent of how many cells are in the field) falls below "
        "this fraction of the autofocus points' median (0.87: about 0.5 um of defocus "
        "on the simulated rig, in-focus tiles score 0.93-1.03): a quick probe at "
        "z +- 1 um finds the local best focus; a tile more than a quarter depth of "
        "field off is taken again there (after a sweep when focus is further), and "
        "flagged out of focus if that fails; blank fields are never checked; 0: never",
    )

    @field_validator("map_points")
    @classmethod
    def _points(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 100:
            raise ValueError(f'must be 1-100 or "auto", got {v}')
        return v

    @field_validator("wavelength_nm")
    @classmethod
    def _nm(cls, v: int | None) -> int | None:
        if v is not None and v not in WAVELENGTHS_NM:
            raise ValueError(f"must be one of {WAVELENGTHS_NM}, got {v}")
        return v

    @model_validator(mode="after")
    def _focus(self) -> FocusPlanConfig:
        if self.fine_range_um > self.sweep_range_um:
            raise ValueError("fine_range_um must not exceed sweep_range_um")
        return self


class AnalysisConfig(Model):
    enabled: bool = Field(False, description="Analyse tiles as they are acquired")
    models: str = Field("default", description="Model set from the weights registry")
    allow_model_mismatch: bool = Field(
        False,
        description="Run weights whose model card declares another modality, input or a "
        "pixel size more than 4x from the scan's (refused otherwise; recorded in the "
        "manifest and the analysis provenance)",
    )
    settings: Path | None = Field(
        None, description="Analysis settings TOML (thresholds; see `uvscope analyze --help`)"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the networks run")
    report: bool = Field(True, description="Write the HTML report at the end")
    stop_after_wbc: int | None = Field(
        None, gt=0, description="End the scan once this many healthy WBCs are counted"
    )


class SampleConfig(Model):
    """Who and what the scan is of: printed at the head of the report."""

    id: str = Field("", max_length=64, description="Sample (specimen) id, e.g. the LIS number")
    slide_id: str = Field("", max_length=64, description="Slide id or barcode")
    operator: str = Field("", max_length=64, description="Who ran the scan")
    rbc_per_ul: float | None = Field(
        None,
        gt=0,
        description="The sample's red-cell count per uL (from the analyser); platelet and WBC "
        "estimates per uL scale by it (default 4.5e6 /uL, stated in cbc.json)",
    )


class TargetConfig(Model):
    """Count N WBCs: scan outward from a start point, ring after ring of tiles, until the
    analysis has counted ``wbc`` healthy white cells or ``max_area_mm2`` is scanned."""

    wbc: int = Field(
        gt=0, le=10_000, description="Healthy WBCs to count (100 or 200 for a differential)"
    )
    start_mm: tuple[float, float] | None = Field(
        None, description="Stage x, y (mm) of the first tile; default: the centre of [region]"
    )
    max_area_mm2: float = Field(
        25.0,
        gt=0,
        le=5_000,
        description="Most new slide area to scan (tiles x tile step area); a normal smear "
        "needs about 8 mm2 per 100 WBCs",
    )


class RetryConfig(Model):
    """How many device errors a scan rides out by reopening the devices and retaking tiles."""

    per_tile: int = Field(
        1,
        ge=0,
        le=20,
        description="Retries of one tile after device errors before the scan "
        "stops (headless) or pauses for the operator (GUI)",
    )
    per_scan: int = Field(
        10,
        ge=0,
        le=1000,
        description="Device errors the whole scan rides out before it stops or pauses",
    )


class ScanConfig(Model):
    name: str = "scan"
    sample: SampleConfig = Field(SampleConfig(), description="Sample id, slide id, operator")
    region: RegionConfig = RegionConfig(center_mm=(42.5, 32.5), rows=3, columns=4)
    target: TargetConfig | None = Field(
        None,
        description="Count N WBCs: scan outward from a start point until the target is "
        "counted (needs [analysis] enabled); none: scan [region] as a fixed grid",
    )
    overlap_percent: float = Field(15.0, ge=0, lt=50, description="Tile overlap")
    order: Literal["serpentine", "raster"] = "serpentine"
    wavelengths: tuple[WavelengthConfig, ...] = (WavelengthConfig(nm=260, exposure_ms=50.0),)
    background: BackgroundConfig = BackgroundConfig()
    focus: FocusPlanConfig = FocusPlanConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    retries: RetryConfig = RetryConfig()
    output_dir: Path | None = Field(None, description="Scan folder; --out overrides it")
    save_raw: bool = Field(True, description="Keep raw frames beside the normalised tiles")

    @model_validator(mode="after")
    def _wavelengths(self) -> ScanConfig:
        if not self.wavelengths:
            raise ValueError("wavelengths: give at least one")
        nms = [w.nm for w in self.wavelengths]
        if len(set(nms)) != len(nms):
            raise ValueError(f"wavelengths: {nms} lists a wavelength twice")
        return self

    @model_validator(mode="after")
    def _target(self) -> ScanConfig:
        t, a = self.target, self.analysis
        if t is None:
            return self
        if not a.enabled:
            raise ValueError(
                "target.wbc needs the analysis to count the cells: set [analysis] enabled = true"
            )
        if a.stop_after_wbc is not None and a.stop_after_wbc != t.wbc:
            raise ValueError(
                f"target.wbc = {t.wbc} and analysis.stop_after_wbc = {a.stop_after_wbc} "
                "disagree: give one of them"
            )
        return self

    @property
    def stop_after_wbc(self) -> int | None:
        """The healthy-WBC count that ends the scan: the target's, else the analysis's."""
        return self.target.wbc if self.target is not None else self.analysis.stop_after_wbc


class BatchEntry(Model):
    config: Path = Field(description="A scan TOML, relative to the batch file")
    out: Path | None = None
    rig: Path | None = None


class BatchConfig(Model):
    scans: tuple[BatchEntry, ...]
    rig: Path | None = Field(None, description="Default rig for every scan")


# --------------------------------------------------------------------------- loading

M = TypeVar("M", bound=BaseModel)


def _format_validation(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_model(cls: type[M], data: dict[str, Any], source: str = "config") -> M:
    """Validate ``data`` as ``cls``; raise ConfigError naming every bad field."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation(err, source)) from None


#: a config file larger than this is not a config file (a wrong path, a data file)
MAX_CONFIG_BYTES = 1_000_000


def load_toml(cls: type[M], path: str | Path) -> M:
    """Load and validate a TOML file as ``cls``; every failure is a ConfigError naming it."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{p}: {p.stat().st_size} bytes is too large for a config file "
                f"(at most {MAX_CONFIG_BYTES}); check the path"
            )
        # "utf-8-sig": a byte-order mark (Windows Notepad writes one) is not TOML, but it
        # is no reason to refuse a file either
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder, not a TOML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; TOML files are UTF-8 (save it as UTF-8)") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: not valid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{p}: nested too deeply to be a uvscope config") from None
    except OSError as err:
        raise ConfigError(f"{p}: cannot read it: {err.strerror or err}") from None
    if not data:
        raise ConfigError(
            f"{p}: the file is empty (no settings); give the settings, or leave "
            "the option out to use the built-in default"
        )
    return parse_model(cls, data, str(p))


def dump_toml(model: BaseModel) -> str:
    """TOML text that ``load_toml`` reads back to an equal model."""
    return tomli_w.dumps(model.model_dump(mode="json", exclude_none=True))


#: environment variable naming the rig file this PC drives ("sim": the built-in simulator)
RIG_ENV = "UVSCOPE_RIG"
SIM_RIG = "sim"


def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/uvscope/config.toml`` (default ``~/.config/uvscope/config.toml``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "uvscope" / "config.toml"


def default_rig() -> tuple[Path | None, str]:
    """The rig a command uses without ``--rig``, and where that choice came from.

    ``UVSCOPE_RIG`` first, then ``rig = "..."`` in the user config file (relative to it);
    ``None`` (the built-in simulated rig) only when neither names one, or names ``"sim"``.
    """
    env = os.environ.get(RIG_ENV, "").strip()
    if env:
        return (None if env == SIM_RIG else Path(env)), f"${RIG_ENV}"
    cfg = user_config_path()
    if cfg.is_file():
        try:
            data = tomllib.loads(cfg.read_text(encoding="utf-8-sig"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{cfg}: not valid TOML: {err}") from None
        except (UnicodeDecodeError, OSError) as err:
            raise ConfigError(f"{cfg}: cannot read it as UTF-8 text: {err}") from None
        unknown = set(data) - {"rig"}
        if unknown:
            raise ConfigError(f'{cfg}: unknown key(s) {sorted(unknown)}; only rig = "..."')
        rig = data.get("rig")
        if isinstance(rig, str) and rig.strip():
            return (None if rig == SIM_RIG else cfg.parent / rig), str(cfg)
    return None, "built-in default"


def load_rig(path: str | Path | None) -> RigConfig:
    """The rig at ``path``; with None, the rig this PC is configured for (``default_rig``);
    the embedded simulated rig when none is configured or ``path`` is ``"sim"``."""
    if path is None:
        path, _ = default_rig()
    if path is None or str(path) == SIM_RIG:
        text = resources.files("uvscope.examples").joinpath("rig-sim.toml").read_text("utf-8")
        return parse_model(RigConfig, tomllib.loads(text), "embedded rig-sim.toml")
    return load_toml(RigConfig, path)


def load_scan(path: str | Path | None) -> ScanConfig:
    """The scan at ``path``, or the embedded default scan when ``path`` is None."""
    if path is None:
        text = resources.files("uvscope.examples").joinpath("scan-default.toml").read_text("utf-8")
        return parse_model(ScanConfig, tomllib.loads(text), "embedded scan-default.toml")
    return load_toml(ScanConfig, path)
