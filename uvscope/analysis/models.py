"""The three networks the pipeline calls, as Protocols, and how to load them.

The networks live in ``uvscope.models.predict`` (models room). The pipeline depends only on
these small ``predict`` signatures, so it can be tested with tiny fakes and run with any
weights that honour them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from uvscope.errors import ModelError


@runtime_checkable
class Segmenter(Protocol):
    pixel_size_um: float
    patch_size: int | None

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, H, W) float32 0..1 -> (cell_prob, nucleus_prob), each (N, H, W)."""
        ...


@runtime_checkable
class Stainer(Protocol):
    pixel_size_um: float
    patch_size: int | None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W) float32 0..1 -> (N, H, W, 3) RGB float32 0..1."""
        ...


@runtime_checkable
class CellClassifier(Protocol):
    crop_size: int
    pixel_size_um: float

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, S, S) composite crops -> (p_dead (N,), p_class (N, C)): C the five parts,
        then the pre-classes, as a ``classes`` attribute lists them (five when absent)."""
        ...


@dataclass
class ModelSet:
    """The networks of one analysis run, with what the report prints about them."""

    segmenter: Segmenter
    stainer: Stainer | None
    classifier: CellClassifier
    provenance: dict[str, Any] = field(default_factory=dict)


def _predict_module() -> Any:
    try:
        return importlib.import_module("uvscope.models.predict")
    except ImportError as err:
        raise ModelError(
            "the model package uvscope.models.predict is not available "
            f"({err}); install uvscope completely or pass models explicitly"
        ) from err


#: how a user overrides a refused model set, named in every refusal (one wording for all)
OVERRIDE_HINT = (
    "uvscope analyze or scan --allow-model-mismatch; in a scan file or the GUI: "
    "[analysis] allow_model_mismatch = true"
)


def load_models(
    segmenter: str = "default",
    stainer: str | None = "default",
    classifier: str = "default",
    device: str = "auto",
    modality: str = "uv260",
    allow_mismatch: bool = False,
) -> ModelSet:
    """Load the named networks from the registry (``None`` for the stainer skips staining).

    Weights whose card declares another modality or input than the scan's (e.g. a classifier
    trained on colour crops of stained smears) are refused unless ``allow_mismatch``; an
    allowed mismatch is recorded in the provenance (and so in the report and manifest).
    """
    mod = _predict_module()
    seg = mod.load_segmenter(segmenter, device=device)
    stn = mod.load_stainer(stainer, device=device) if stainer is not None else None
    cls = mod.load_classifier(classifier, device=device)
    prov: dict[str, Any] = {"segmenter": segmenter, "stainer": stainer, "classifier": classifier}
    for key, model in (("segmenter", seg), ("stainer", stn), ("classifier", cls)):
        card = getattr(model, "card", None) or getattr(model, "provenance", None)
        if card is not None:
            prov[f"{key}_card"] = card if isinstance(card, dict) else str(card)
    _check_fit(prov, modality, allow_mismatch)
    return ModelSet(seg, stn, cls, prov)


def _check_fit(prov: dict[str, Any], modality: str, allow: bool) -> None:
    from uvscope.models.registry import fit_problem

    problems = {}
    for key in ("segmenter", "stainer", "classifier"):
        card = prov.get(f"{key}_card")
        why = fit_problem(card, modality) if isinstance(card, dict) else None
        if why:
            problems[key] = f"{key} {prov[key]!r}: {why}"
    if problems and not allow:
        raise ModelError(
            "; ".join(problems.values())
            + ". Use weights trained on this kind of scan, or override explicitly to run "
            f"them anyway ({OVERRIDE_HINT})"
        )
    if problems:
        prov["mismatch_overridden"] = list(problems.values())
    prov["allow_mismatch"] = allow


#: the most a tile is resampled to a network's pixel size: beyond it the network sees cells
#: far from the size it learned (4x down loses a lymphocyte's nucleus; 4x up invents detail)
MAX_RESAMPLE = 4.0


def check_pixel_fit(models: ModelSet, pixel_size_um: float) -> None:
    """Refuse networks whose pixel size is more than MAX_RESAMPLE from the scan's, unless the
    models were loaded with ``allow_mismatch`` (then the mismatch is recorded)."""
    problems = []
    for key in ("segmenter", "stainer", "classifier"):
        model = getattr(models, key)
        px = getattr(model, "pixel_size_um", None)
        if model is None or not px:
            continue
        ratio = float(px) / pixel_size_um
        if not 1.0 / MAX_RESAMPLE <= ratio <= MAX_RESAMPLE:
            problems.append(
                f"{key} {models.provenance.get(key)!r} works at {px} um/px, the scan is "
                f"{pixel_size_um} um/px ({ratio:.2f}x)"
            )
    if problems and not models.provenance.get("allow_mismatch"):
        raise ModelError(
            "; ".join(problems)
            + f": more than {MAX_RESAMPLE:g}x resampling. Train weights at this pixel size "
            f"(uvscope train ... --data DIR), or override ({OVERRIDE_HINT})"
        )
    if problems:
        models.provenance.setdefault("mismatch_overridden", []).extend(problems)
