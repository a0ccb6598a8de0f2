"""Analysis settings: every threshold of the pipeline in one frozen, validated model.

``uvscope analyze --config thresholds.toml`` loads this model, so a re-analysis with other
thresholds is a TOML file, not a code change. Defaults follow paper 000 (sections 4.5.4, 4.6.2)
where it gives numbers and sensible values for 0.16 um pixels where it does not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from uvscope.classes import CLASSES as CLASSES  # re-exported; defined once in uvscope.classes
from uvscope.config import Model, load_toml


class InferenceSettings(Model):
    wavelength_nm: int = Field(260, description="The wavelength the networks read (paper: 260 nm)")
    low_pct: float = Field(0.5, ge=0, lt=50, description="Contrast stretch: saturated dark percent")
    high_pct: float = Field(99.5, gt=50, le=100, description="Contrast stretch: bright percentile")
    stretch_reference_px: int | None = Field(
        147456,
        gt=0,
        description=(
            "Pixels of the field the networks were trained on (384 x 384 at 0.16 um): a tile's "
            "stretch saturates as many pixels as low_pct/high_pct of such a field, not that "
            "percent of the tile (a whole tile is mostly red cells); None: percent of the tile"
        ),
    )
    patch_overlap_px: int = Field(
        32,
        ge=0,
        description="Overlap of inference patches (model pixels); blended with a Hann window",
    )
    classifier_context_um: float | None = Field(
        61.44,
        gt=0,
        description=(
            "Each classifier crop is contrast-stretched over a window this wide around its cell, "
            "as the classifier's training fields were (384 px at 0.16 um); None: the whole tile"
        ),
    )
    tiling: Literal["whole", "patches"] = Field(
        "whole",
        description=(
            "How the U-Nets see a tile: 'whole' (the tile in one pass, padded; the networks "
            "are fully convolutional: ~1.4x less work than patches, held-out Dice and MS-SSIM "
            "within 0.001 of patches, benchmarks/RESULTS.md) or 'patches' (the network's "
            "inference patch, overlapping, Hann-blended: bounded memory for large networks)"
        ),
    )
    patch_batch: int = Field(
        16, ge=1, description="Patches per network call (tiling = 'whole': one tile a call)"
    )
    tile_batch: int = Field(4, ge=1, description="Tiles the worker gathers into one batch")
    device: str = Field("auto", description="auto, cpu or cuda (cuda:N for GPU N)")
    engine: Literal["auto", "torch", "openvino", "onnxruntime"] = Field(
        "auto",
        description=(
            "What runs the segmentation and staining networks: torch (eager; bf16 autocast on "
            "CUDA), or on CPU OpenVINO / ONNX Runtime (float32, the same results within 1e-4, "
            "faster: benchmarks/RESULTS.md). auto: torch on CUDA, else OpenVINO, else ONNX "
            "Runtime, else torch; a missing runtime falls back to torch with a warning"
        ),
    )

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", v):
            raise ValueError(f"{v!r} is not a device uvscope runs on; use auto, cpu or cuda")
        return v


class PostprocessSettings(Model):
    """Paper 4.5.4: opening, joint cell/nucleus cleaning, thresholds on shape and intensity."""

    cell_threshold: float = Field(0.5, gt=0, lt=1, description="Cell probability threshold")
    nucleus_threshold: float = Field(0.5, gt=0, lt=1, description="Nucleus probability threshold")
    opening_radius_um: float = Field(
        0.8, ge=0, description="Disk radius of the morphological opening of the cell mask"
    )
    nucleus_opening_radius_um: float = Field(
        0.3,
        ge=0,
        description=(
            "Disk radius of the opening of the nucleus mask: small, because a karyorrhectic "
            "dead cell's nucleus is 3-5 fragments of 0.6-1.1 um radius that a 0.8 um opening "
            "erases (the cell then has no nucleus and is dropped); specks it keeps hold too "
            "little DNA to pass min_nucleus_od_um2"
        ),
    )
    min_cell_area_um2: float = Field(
        20.0,
        ge=0,
        description=(
            "Smaller cells are removed (dust specks; platelet clumps and debris hold no DNA and "
            "fail min_nucleus_od_um2 at any size). Simulated donors: the smallest dead-cell masks "
            "are ~26 um2, the smallest lymphocytes ~35 um2"
        ),
    )
    max_cell_area_um2: float = Field(600.0, gt=0, description="Larger cells (clumps) are removed")
    min_nucleus_area_um2: float = Field(
        2.0,
        ge=0,
        description=(
            "A cell needs this much nucleus (a karyorrhectic cell's fragments cover 3-8 um2; "
            "how much DNA it holds is min_nucleus_od_um2's test)"
        ),
    )
    min_solidity: float = Field(0.75, ge=0, le=1, description="Cells less convex are removed")
    min_euler_number: int = Field(-1, description="Cells with more holes than 1 - this are removed")
    min_mean_intensity: float = Field(
        0.0, ge=0, description="Normalised transmission: cells darker on average are removed"
    )
    max_mean_intensity: float = Field(
        0.9,
        gt=0,
        description=(
            "Cells this bright on average are removed (ghosts). Loose on purpose: a large pale "
            "cell (monocyte, big neutrophil) averages 0.82 at 260 nm; max_nucleus_mean_intensity "
            "is the test that separates WBCs from pale debris"
        ),
    )
    min_nucleus_od_um2: float = Field(
        4.0,
        ge=0,
        description=(
            "Cells whose nucleus absorbs less than this in all (integrated optical density at "
            "the analysis wavelength: sum of -log10 transmission x um2) are removed. A nucleus "
            "holds a fixed mass of DNA: at 260 nm a healthy WBC nucleus integrates to ~15 OD um2 "
            "whether small and dark or large and pale (simulated donors 13.5-17), a dead cell's "
            "fragments to 5-11; specks, debris and platelet clumps to less"
        ),
    )
    max_nucleus_mean_intensity: float = Field(
        0.55,
        gt=0,
        description=(
            "A nucleus transmitting more than this on average (no dense chromatin) must hold a "
            "whole nucleus's DNA, pale_nucleus_min_od_um2, or its cell is removed: a red cell "
            "(~0.74, ~6 OD um2) or pale debris goes, a large monocyte nucleus (0.55-0.7: its "
            "DNA spread thin, ~15 OD um2) stays. Compact and dead nuclei are darker (<= 0.5)"
        ),
    )
    pale_nucleus_min_od_um2: float = Field(
        10.0,
        ge=0,
        description=(
            "Integrated optical density a pale nucleus (see max_nucleus_mean_intensity) needs: "
            "two thirds of a healthy nucleus's ~15 OD um2 at 260 nm, above a red cell's ~6"
        ),
    )
    split_min_depth_um: float = Field(
        0.75,
        ge=0,
        description=(
            "A cell mask is split where its distance transform has maxima standing out by this "
            "much (a neck between two round cells); 0 never splits"
        ),
    )
    split_min_radius_um: float = Field(
        2.5, gt=0, description="Each cell of a split must be at least this deep (inscribed radius)"
    )
    split_min_nucleus_od_um2: float = Field(
        9.0,
        ge=0,
        description=(
            "Each cell of a split must hold this much nucleus absorbance (integrated optical "
            "density, as min_nucleus_od_um2; a whole nucleus ~15 OD um2 at 260 nm), or it is "
            "merged back: a neutrophil cut in two by a notch of its outline gives halves of 6-8"
        ),
    )

    @model_validator(mode="after")
    def _ranges(self) -> PostprocessSettings:
        if self.min_cell_area_um2 >= self.max_cell_area_um2:
            raise ValueError("min_cell_area_um2 must be below max_cell_area_um2")
        if self.min_mean_intensity >= self.max_mean_intensity:
            raise ValueError("min_mean_intensity must be below max_mean_intensity")
        return self


class CheckpointSettings(Model):
    """Paper 4.6.2: a cell called dead is called healthy again when it looks like a healthy WBC."""

    enabled: bool | None = Field(
        None,
        description="Apply it; None (auto): only when the classifier has no checkpoint of its own",
    )
    dead_threshold: float = Field(
        0.9,
        gt=0,
        lt=1,
        description=(
            "p_dead above this calls a cell dead (training donors: dead cells >= 0.99, the "
            "healthy cells called dead at 0.5 had 0.68 and 0.81)"
        ),
    )
    healthy_min_cell_area_um2: float = Field(
        40.0, ge=0, description="Healthy WBCs are at least this big"
    )
    healthy_min_nucleus_fraction: float = Field(
        0.15, ge=0, le=1, description="Healthy nuclei fill at least this fraction of the cell"
    )
    healthy_max_nucleus_fraction: float = Field(0.85, ge=0, le=1)
    healthy_min_euler_number: int = Field(
        0,
        description="Healthy cells have at most 1 - this holes (dead cells often look fragmented)",
    )
    healthy_max_mean_intensity: float = Field(
        0.9, gt=0, description="Healthy WBCs absorb: their mean transmission is below this"
    )


class CountingSettings(Model):
    keep_outer_border_cells: bool = Field(
        False,
        description="Count cells cut by the scan's outer border (they are partial; off by default)",
    )
    stop_after_wbc: int | None = Field(
        None, gt=0, description="Tell the engine to stop once this many healthy WBCs are counted"
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="Level of the Wilson intervals")


class DifferentialSettings(Model):
    """How the pre-classified cells are reported and when they raise a flag (the lab's policy)."""

    bands_with_neutrophils: bool = Field(
        False,
        description=(
            "Count band neutrophils in the neutrophil row (true) or list them apart (false, "
            "the default, as a review station pre-classifies them)"
        ),
    )
    ig_flag_percent: float = Field(
        2.0,
        ge=0,
        le=100,
        description="Flag immature granulocytes (meta-, myelo-, promyelocytes) above this % of WBC",
    )
    blast_flag_count: int = Field(
        1, ge=1, description="Flag blasts (a critical finding) from this many counted blasts"
    )


class MosaicSettings(Model):
    refine_positions: bool = Field(True, description="Refine stage positions by phase correlation")
    max_shift_um: float = Field(15.0, gt=0, description="Larger measured corrections are rejected")
    min_correlation: float = Field(
        0.3, ge=-1, le=1, description="Pairs correlating less are rejected"
    )
    max_residual_px: float = Field(
        3.0, gt=0, description="Pairs off the global fit by more are dropped"
    )
    blend_width_px: int = Field(64, ge=1, description="Width of the linear blending ramp")
    max_pixels: int = Field(250_000_000, gt=0, description="Larger mosaics are downsampled to fit")
    pixel_size_um: float | None = Field(
        None,
        gt=0,
        description="Pixel size of the analysis mosaics; default: the segmentation network's "
        "(labels and staining are made at that size; raw tiles keep the full resolution)",
    )
    tile_size: int = Field(256, description="TIFF tile size of the pyramids")


class CbcSettings(Model):
    """Red cells, haemoglobin and platelets of the whole smear (uvscope.analysis.smear).

    Object thresholds are optical densities at the analysis wavelength (260 nm by default);
    flag thresholds follow the usual CBC reference limits and are stated with every flag.
    """

    enabled: bool = Field(True, description="Analyse red cells and platelets in every tile")
    hb_wavelength_nm: int | None = Field(
        None,
        description="Wavelength whose absorbance gives haemoglobin mass; none: the analysis "
        "wavelength (the rig config holds the absorptivity per wavelength)",
    )
    morphology: Literal["auto", "network", "rules"] = Field(
        "rules",
        description="Red-cell morphology: the shape rule set (default: on held-out simulated "
        "donors its shares are as close to the truth as the shipped network's, at no cost), "
        "the trained network "
        "(uvscope train rbc; e.g. trained on a lab's own crops), or auto: the network when "
        "its weights are there, else the rules",
    )
    morphology_weights: str = Field(
        "default",
        description="The morphology network's .safetensors ('default': the shipped weights)",
    )
    od_threshold: float = Field(0.02, gt=0, description="Objects: smoothed OD above this")
    rbc_min_area_um2: float = Field(
        6.0, gt=0, description="Smaller absorbing objects are not red cells"
    )
    rbc_min_mean_od: float = Field(
        0.07, gt=0, description="Red cells absorb more than this on average (platelets do not)"
    )
    rbc_od_threshold: float = Field(
        0.05, gt=0, description="Red cells: smoothed OD above this (pale centres filled)"
    )
    platelet_min_mean_od: float = Field(
        0.04, gt=0, description="Platelets absorb more than this on average (halo remnants less)"
    )
    platelet_min_od_um2: float = Field(
        0.08, gt=0, description="Platelets' integrated OD (um^2) is at least this"
    )
    platelet_max_mean_od: float = Field(
        0.15, gt=0, description="Platelets absorb less than this on average (dust more)"
    )
    platelet_min_area_um2: float = Field(0.8, gt=0, description="Smaller objects are noise")
    platelet_max_area_um2: float = Field(
        30.0, gt=0, description="Larger objects are red cells (a clump of 5 is ~20 um^2)"
    )
    platelet_single_od_um2: float = Field(
        0.28,
        gt=0,
        description="Integrated OD of one platelet (um^2); a clump's count is its OD over this",
    )
    split_radius_um: float = Field(
        1.8,
        gt=0,
        description="Touching cells are split between distance-map peaks this far "
        "(x 2) apart and at least this deep",
    )
    max_clear_deviation: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Clear glass further than this from 1 after normalisation: "
        "the background is not usable for haemoglobin mass",
    )
    rbc_per_ul_default: float = Field(
        4.5e6, gt=0, description="Red cells per uL when the scan's [sample] gives none"
    )
    platelets_low_per_ul: float = Field(150e3, gt=0, description="Thrombocytopenia below this")
    platelets_high_per_ul: float = Field(450e3, gt=0, description="Thrombocytosis above this")
    clump_share_max: float = Field(
        0.2, gt=0, le=1, description="Clumped platelets above this share: estimate unreliable"
    )
    sickle_min_percent: float = Field(1.0, ge=0, description="Sickle cells seen at or above this")
    schistocyte_min_percent: float = Field(1.0, ge=0, description="Schistocytes above this")
    hypochromia_mch_pg: float = Field(26.0, gt=0, description="Hypochromia: MCH below this")
    microcytosis_diameter_um: float = Field(6.8, gt=0, description="Mean diameter below this")
    macrocytosis_diameter_um: float = Field(8.2, gt=0, description="Mean diameter above this")
    anisocytosis_cv_percent: float = Field(
        11.0, gt=0, description="Anisocytosis: diameter distribution width (CV %) above this"
    )
    gallery_per_class: int = Field(
        6, ge=0, le=50, description="Cells kept per class for the report"
    )


class AnalysisSettings(Model):
    inference: InferenceSettings = InferenceSettings()
    postprocess: PostprocessSettings = PostprocessSettings()
    checkpoint: CheckpointSettings = CheckpointSettings()
    counting: CountingSettings = CountingSettings()
    differential: DifferentialSettings = DifferentialSettings()
    mosaic: MosaicSettings = MosaicSettings()
    cbc: CbcSettings = CbcSettings()
    queue_size: int = Field(8, ge=1, description="Tiles waiting for analysis before the scan waits")


def load_settings(path: str | Path | None) -> AnalysisSettings:
    """Settings from a TOML file, or the defaults when ``path`` is None."""
    return AnalysisSettings() if path is None else load_toml(AnalysisSettings, path)
