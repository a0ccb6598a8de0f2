"""Architecture configurations: one frozen dataclass per model kind, with small and paper presets.

A configuration travels inside every model card so a weights file can be rebuilt and checked
against the network it claims to be; the registry refuses a file whose tensors disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from uvscope.classes import CLASSES, PRECLASSES, RBC_CLASSES
from uvscope.errors import ModelError

CLASS_NAMES: tuple[str, ...] = (*CLASSES, *PRECLASSES)
"""Label order of every classifier output and crop label in uvscope: the five parts, then the
pre-classes (``uvscope.classes``, the one definition). A classifier's head outputs the first
``len(cfg.classes)`` of them: weights trained before the pre-classes output the five."""

Kind = Literal["segment", "stain", "classify"]
Size = Literal["small", "paper"]


@dataclass(frozen=True)
class SegConfig:
    """U-Net with a shared encoder/decoder and two sigmoid outputs (cell, nucleus)."""

    base_width: int = 12
    depth: int = 4
    patch_size: int = 128
    pixel_size_um: float = 0.32
    extra_conv: bool = True


@dataclass(frozen=True)
class StainConfig:
    """cGAN: U-Net generator (L -> a,b) and a strided-conv discriminator over (L, a, b)."""

    base_width: int = 12
    depth: int = 4
    disc_width: int = 16
    disc_layers: int = 4
    patch_size: int = 128
    pixel_size_um: float = 0.32
    extra_conv: bool = True
    #: False = the paper (L is the input image); True = the generator also predicts L
    predict_l: bool = False
    #: "input": L is the preprocessed 260 nm image itself (the paper); "fitted": L is a
    #: monotone lightness curve of it, fitted on the training pairs before training (l_curve)
    lightness: Literal["input", "fitted"] = "input"
    #: lightness at evenly spaced input levels 0..1 (normalised L); empty = identity
    l_curve: tuple[float, ...] = ()
    #: the paper's white balance after Lab -> RGB (section 4.4.3)
    rgb_offset: float = 0.02
    value_offset: float = 0.07

    def __post_init__(self) -> None:
        if self.lightness not in ("input", "fitted"):
            raise ModelError(
                f"stain lightness must be 'input' (the paper: L is the 260 nm image) or 'fitted' "
                f"(a lightness curve fitted on the training pairs), got {self.lightness!r}"
            )
        if len(self.l_curve) == 1:
            raise ModelError("a stain lightness curve needs at least 2 knots")


@dataclass(frozen=True)
class ClassifyConfig:
    """Feature extractor + dead/healthy MLP + five-part head (paper 000 section 4.6)."""

    backbone: Literal["resnet18", "wnet", "wbcsnet2", "urnet"] = "resnet18"
    width: int = 16
    crop_size: int = 64
    pixel_size_um: float = 0.32
    small_input: bool = False
    dropout: float = 0.2
    dead_hidden: tuple[int, ...] = (128, 64, 32, 8)
    class_hidden: tuple[int, ...] = (256, 128, 64, 32)
    #: what the class head outputs, in order: the five parts, then the pre-classes training
    #: taught it (``train_classify.fit_head``; a card without this field is a five-part head)
    classes: tuple[str, ...] = CLASSES

    def __post_init__(self) -> None:
        pre = [CLASS_NAMES.index(c) if c in CLASS_NAMES else -1 for c in self.classes[5:]]
        if tuple(self.classes[:5]) != CLASSES or pre != sorted(set(pre)) or -1 in pre:
            raise ModelError(
                f"classifier classes {list(self.classes)} must be the five parts followed by "
                f"pre-classes in the order {list(CLASS_NAMES)}"
            )


#: the smallest inference patch (model pixels) of a tile-to-tile network: the analysis blends
#: overlapping patches of this size or larger, whatever patch the network was trained on
MIN_INFERENCE_PATCH_PX = 128


def inference_patch_px(cfg: SegConfig | StainConfig) -> int:
    """The patch a U-Net runs on at inference, derived from the network, not the training
    patch: at least MIN_INFERENCE_PATCH_PX and 8 x its 2**depth downsampling, a multiple of
    2**depth. A network trained on 32-px patches would otherwise cut a tile into thousands of
    patches (the 32-px blending overlap leaves a 1-px step)."""
    m = 2**cfg.depth
    p = max(cfg.patch_size, MIN_INFERENCE_PATCH_PX, 8 * m)
    return int(-(-p // m) * m)


def same_network(a: Any, b: Any) -> bool:
    """Whether weights of config ``a`` fit the network of ``b``: the same layers, whatever the
    pixel size and (U-Nets) training patch, which change the data, not the tensors, and
    whatever classes the class head outputs (its last layer follows the training data)."""
    if type(a) is not type(b):
        return False
    keep = {"pixel_size_um": b.pixel_size_um}
    if hasattr(b, "patch_size"):
        keep["patch_size"] = b.patch_size
    if hasattr(b, "classes"):  # a class head is re-fitted to the classes a fine-tune teaches
        keep["classes"] = b.classes
    return bool(replace(a, **keep) == b)


#: OD is divided by this before the network (a red cell's OD is 0.05-0.4 at 260 nm)
OD_SCALE = 0.25


@dataclass(frozen=True)
class RbcConfig:
    """Architecture of the morphology network (stored in its model card)."""

    crop_size: int = 40
    pixel_size_um: float = 0.32
    #: the crop is averaged over bin x bin pixels before the first layer (0.64 um: a red cell's
    #: shape needs no finer pixels, and the network then costs a tenth per tile)
    input_bin: int = 2
    widths: tuple[int, ...] = (4, 8, 16)
    hidden: int = 32
    #: the classes its head calls, in output order (normal, then the poikilocytes it learnt)
    classes: tuple[str, ...] = RBC_CLASSES
    od_scale: float = OD_SCALE
    #: added to the log-probabilities before the class is chosen: PRIOR_WEIGHT x the log of
    #: each class's prevalence in the training data (training draws the classes equally often,
    #: which over-calls the rare ones on a smear where most cells are normal); empty: none
    logit_bias: tuple[float, ...] = ()


CONFIG_TYPES: dict[str, type] = {
    "segment": SegConfig,
    "stain": StainConfig,
    "classify": ClassifyConfig,
    "rbc": RbcConfig,
}

PRESETS: dict[str, dict[str, Any]] = {
    "segment": {
        "small": SegConfig(),
        "paper": SegConfig(base_width=64, depth=6, patch_size=256, pixel_size_um=0.16),
    },
    "stain": {
        "small": StainConfig(lightness="fitted"),
        "paper": StainConfig(
            base_width=64,
            depth=7,
            disc_width=64,
            patch_size=256,
            pixel_size_um=0.16,
            lightness="fitted",
        ),
    },
    "classify": {
        "small": ClassifyConfig(),
        "paper": ClassifyConfig(width=64, crop_size=128, pixel_size_um=0.16, small_input=False),
    },
}


def preset(kind: str, size: str) -> Any:
    """The named preset for a model kind ('small' for 2 CPU cores, 'paper' for a GPU)."""
    try:
        return PRESETS[kind][size]
    except KeyError:
        raise ModelError(
            f"no preset {size!r} for model kind {kind!r}; choose kind from {sorted(PRESETS)} "
            f"and size from ['small', 'paper']"
        ) from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    d = asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def config_from_dict(kind: str, data: dict[str, Any]) -> Any:
    """Rebuild a config from a model card; unknown or missing fields are a ModelError."""
    if kind not in CONFIG_TYPES:
        raise ModelError(f"unknown model kind {kind!r} in model card")
    cls = CONFIG_TYPES[kind]
    names = {f.name for f in fields(cls)}
    extra = set(data) - names
    if extra:
        raise ModelError(f"model card architecture has unknown fields {sorted(extra)} for {kind}")
    vals = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**vals)
    except TypeError as err:
        raise ModelError(f"model card architecture for {kind} is invalid: {err}") from err
