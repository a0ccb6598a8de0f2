"""Weights registry: safetensors files with a JSON model card beside them.

A weights file is trusted only when its sha256 matches the card, every tensor name and shape
matches the network the card's architecture describes, and the card's input size and pixel
size are what the caller expects. Anything else is a ModelError that says what to do.
Never pickle: safetensors cannot execute code on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from uvscope.errors import ModelError
from uvscope.models.arch import (
    ClassifyConfig,
    RbcConfig,
    SegConfig,
    StainConfig,
    config_from_dict,
    config_to_dict,
)
from uvscope.models.classifiers import TwoStageClassifier
from uvscope.models.rbc_net import RbcNet
from uvscope.models.stain import StainGenerator
from uvscope.models.unet import SegmentationNet

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CARD_VERSION = 1
#: the input each kind takes in the analysis: a gray (260 nm) image, or the paper's composite
#: crop (nucleus mask, gray inside the cell, cell mask); "rgb-crop": a whole colour crop
#: "od-crop": one red cell's binned optical density and mask (uvscope.models.rbc_net)
INPUTS = {"segment": "gray", "stain": "gray", "classify": "composite", "rbc": "od-crop"}
#: input channels of each kind's network
INPUT_CHANNELS = {"segment": 1, "stain": 1, "classify": 3, "rbc": 2}


def build_network(kind: str, cfg: Any) -> nn.Module:
    """The inference network a weights file of this kind holds."""
    if kind == "segment" and isinstance(cfg, SegConfig):
        return SegmentationNet(cfg.base_width, cfg.depth, cfg.extra_conv)
    if kind == "stain" and isinstance(cfg, StainConfig):
        return StainGenerator.from_config(cfg)
    if kind == "classify" and isinstance(cfg, ClassifyConfig):
        return TwoStageClassifier(cfg)
    if kind == "rbc" and isinstance(cfg, RbcConfig):
        return RbcNet(cfg)
    raise ModelError(f"config {type(cfg).__name__} does not describe a {kind!r} model")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def resolve(path_or_name: str | Path, kind: str) -> Path:
    """'default' -> the shipped <kind>.safetensors; a bare name -> weights/<name>.safetensors."""
    p = Path(path_or_name)
    if str(path_or_name) == "default":
        p = WEIGHTS_DIR / f"{kind}.safetensors"
    elif not p.suffix and not p.exists():
        p = WEIGHTS_DIR / f"{path_or_name}.safetensors"
    if p.is_dir():
        p = p / f"{kind}.safetensors"
    if not p.exists():
        raise ModelError(
            f"no {kind} weights at {p}; train them with "
            f"`uvscope train {kind} --data DIR --out DIR` "
            f"or pass the path of a .safetensors file"
        )
    return p


def machine_description() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    cpus = os.cpu_count()
    return f"{platform.machine()}, {cpus} CPU cores, torch {torch.get_num_threads()} threads, {gpu}"


def save_model(
    model: nn.Module, kind: str, cfg: Any, path: Path, card: dict[str, Any]
) -> dict[str, Any]:
    """Write <path>.safetensors and its card (<path>.json); returns the full card."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path))
    patch = cfg.crop_size if isinstance(cfg, (ClassifyConfig, RbcConfig)) else cfg.patch_size
    full = {
        "card_version": CARD_VERSION,
        "kind": kind,
        "architecture": config_to_dict(cfg),
        "input_size": patch,
        "pixel_size_um": cfg.pixel_size_um,
        "modality": "uv260",
        "input": INPUTS[kind],
        "input_channels": INPUT_CHANNELS[kind],
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "file_size_bytes": path.stat().st_size,
        "torch_version": torch.__version__,
        **card,
        "sha256": sha256_file(path),
    }
    card_path(path).write_text(json.dumps(full, indent=2, default=str) + "\n")
    for f in (path, card_path(path)):  # weights are shared by a lab: readable by all
        os.chmod(f, 0o644)
    return full


def card_modality(card: dict[str, Any]) -> tuple[str, str]:
    """(modality, input) a card declares; cards older than these fields are the simulator's
    260 nm models with the analysis's inputs."""
    kind = str(card.get("kind", ""))
    return str(card.get("modality", "uv260")), str(card.get("input", INPUTS.get(kind, "")))


def fit_problem(card: dict[str, Any], modality: str = "uv260") -> str | None:
    """Why weights do not fit a scan of ``modality`` (None when they do): another modality,
    or a classifier trained on whole colour crops where the analysis gives composite crops."""
    if card.get("random"):
        return None
    mod, inp = card_modality(card)
    kind = str(card.get("kind", ""))
    if mod != modality:
        return f"it was trained on {mod!r} images, the scan is {modality!r}"
    if kind in INPUTS and inp != INPUTS[kind]:
        return f"it takes {inp!r} inputs, the analysis gives {INPUTS[kind]!r}"
    return None


def read_card(weights: Path) -> dict[str, Any]:
    cp = card_path(weights)
    if not cp.exists():
        raise ModelError(
            f"{weights} has no model card {cp.name}; a weights file without its card is refused"
        )
    try:
        card = json.loads(cp.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ModelError(f"model card {cp} is not valid JSON: {err}") from err
    except OSError as err:
        raise ModelError(f"model card {cp} cannot be read ({err.strerror or err})") from err
    if not isinstance(card, dict):
        raise ModelError(f"model card {cp} must be a JSON object")
    return card


def load_model(
    path_or_name: str | Path,
    kind: str,
    expected_input_size: int | None = None,
    expected_pixel_size_um: float | None = None,
) -> tuple[nn.Module, Any, dict[str, Any]]:
    """Check and load a weights file: (network on CPU in eval mode, config, card)."""
    path = resolve(path_or_name, kind)
    card = read_card(path)
    if card.get("kind") != kind:
        raise ModelError(f"{path} holds a {card.get('kind')!r} model, not a {kind!r} model")
    digest = sha256_file(path)
    if digest != card.get("sha256"):
        raise ModelError(
            f"{path} does not match its model card (sha256 {digest[:12]}... vs "
            f"{str(card.get('sha256'))[:12]}...): the file is corrupt or was replaced; "
            f"re-download or retrain it"
        )
    cfg = config_from_dict(kind, card.get("architecture", {}))
    size = cfg.crop_size if isinstance(cfg, (ClassifyConfig, RbcConfig)) else cfg.patch_size
    if card.get("input_size") != size or card.get("pixel_size_um") != cfg.pixel_size_um:
        raise ModelError(
            f"model card {card_path(path)} disagrees with its own architecture on input "
            "or pixel size"
        )
    if expected_input_size is not None and size != expected_input_size:
        raise ModelError(
            f"{path} expects {size}-px inputs, but {expected_input_size} px were requested"
        )
    if (
        expected_pixel_size_um is not None
        and abs(cfg.pixel_size_um - expected_pixel_size_um) > 1e-6
    ):
        raise ModelError(
            f"{path} was trained at {cfg.pixel_size_um} um/px but the images are "
            f"{expected_pixel_size_um} um/px; resample the images or use matching weights"
        )
    net = build_network(kind, cfg)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ModelError(f"{path} is not a readable safetensors file: {err}") from err
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelError(
            f"{path} does not fit the {kind} architecture in its card: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise ModelError(
                f"{path}: tensor {name} has shape {tuple(state[name].shape)}, the architecture "
                f"needs {tuple(tensor.shape)}; the file and its card do not belong together"
            )
    net.load_state_dict(state)
    net.eval()
    return net, cfg, card
