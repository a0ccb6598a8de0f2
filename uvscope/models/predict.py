"""The small inference interface the analysis pipeline calls.

Each predictor wraps a checked network from the registry and takes preprocessed numpy batches
(see uvscope.models.preprocess). Device "auto" means CUDA when present, with bf16 autocast and
channels-last memory; float32 on CPU. ``use_engine`` runs the segmentation and staining networks
(with their output heads: sigmoid, Lab -> RGB and the paper's white balance) in OpenVINO or ONNX
Runtime instead of torch eager on CPU (see uvscope.models.runtime); torch stays the reference.
``load_*("random")`` gives an untrained network of the small preset, for testing pipelines
without weights (its outputs are meaningless).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uvscope.errors import ModelError
from uvscope.models.arch import (
    ClassifyConfig,
    SegConfig,
    StainConfig,
    inference_patch_px,
    preset,
)
from uvscope.models.classifiers import output_names, widen
from uvscope.models.deadcheck import DeadCheckpoint, crop_features
from uvscope.models.registry import build_network, load_model
from uvscope.models.runtime import EngineFallbackWarning, Runner, build_runner, resolve_engine
from uvscope.models.stain import lab_norm_to_rgb, postprocess


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; asking for cuda without one is a ModelError."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ModelError(
            f"device {str(device)!r} is not one uvscope runs on; use auto, cpu or cuda"
        )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("CUDA was requested but torch sees no GPU; use --device cpu or auto")
    return dev


class _Predictor:
    """Shared plumbing: device placement, autocast, chunked batches, padding."""

    def __init__(
        self,
        net: nn.Module,
        cfg: Any,
        card: dict[str, Any],
        device: str | torch.device,
        batch_size: int,
    ) -> None:
        self.device = resolve_device(device)
        self.cfg = cfg
        self.card = card
        self.batch_size = batch_size
        self.pixel_size_um: float = cfg.pixel_size_um
        net = net.to(self.device).eval()
        if self.device.type == "cuda":
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.net = net

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _chunks(self, x: np.ndarray) -> Iterator[torch.Tensor]:
        for i in range(0, len(x), self.batch_size):
            t = torch.from_numpy(np.ascontiguousarray(x[i : i + self.batch_size], np.float32))
            if self.device.type == "cuda":  # pinned: the copy runs beside the host's work
                t = t.pin_memory().to(self.device, non_blocking=True)
            if self.device.type == "cuda" and t.ndim == 4:
                t = t.contiguous(memory_format=torch.channels_last)
            yield t


def _check_batch(batch: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(batch, dtype=np.float32)
    if arr.ndim == 2:
        raise ModelError(
            f"{what}.predict expects a batch (N, H, W); wrap a single image as img[None]"
        )
    if arr.ndim != 3:
        raise ModelError(f"{what}.predict expects (N, H, W), got shape {arr.shape}")
    return arr


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """``x`` (..., H, W) padded at the bottom/right to multiples of ``multiple`` (the U-Nets'
    2**depth), reflecting where the image is large enough; returns it with the original H, W."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


class _Head(nn.Module):
    """A network and the fixed function of its output that inference applies (``finish``),
    as one module: what the torch engine runs in two steps (the network under autocast, the
    head in float32) and what gets exported whole for the other engines."""

    def __init__(self, net: nn.Module, finish: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.net = net
        self.finish = finish

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.net(x).float())


def _engine_runner(
    pred: Any, engine: str, example: torch.Tensor, n_out: int
) -> tuple[str, Runner | None]:
    """(engine used, runner or None for torch) for a predictor's ``head``; see use_engine."""
    chosen = resolve_engine(engine, pred.device)
    if chosen == pred.engine:
        return chosen, pred._runner
    what = type(pred).__name__
    if chosen != "torch" and pred.device.type != "cpu":
        warnings.warn(
            f"inference engine {chosen!r} runs on CPU only; the {what} on "
            f"{pred.device.type} keeps torch",
            EngineFallbackWarning,
            stacklevel=3,
        )
        return "torch", None
    if chosen == "torch":
        return chosen, None
    threads = torch.get_num_threads()
    try:
        with _one_torch_thread():  # the export must not give this thread a team
            return chosen, build_runner(
                chosen, pred.head, example, repr(pred.cfg), threads, n_out=n_out
            )
    except ModelError as err:
        warnings.warn(
            f"{err}; running the {what} in torch instead", EngineFallbackWarning, stacklevel=3
        )
        return "torch", None


class _ImagePredictor(_Predictor):
    """A tile-to-tile network (segmentation, staining): ``patch_size`` is its inference patch
    (arch.inference_patch_px: derived from the network, never smaller than it can use); runs
    in torch eager or, on CPU, in an exported engine (``use_engine``)."""

    def __init__(
        self,
        net: nn.Module,
        cfg: Any,
        card: dict[str, Any],
        device: str | torch.device = "auto",
        batch_size: int = 4,
    ) -> None:
        super().__init__(net, cfg, card, device, batch_size)
        self.patch_size: int = inference_patch_px(cfg)
        self.head = _Head(self.net, self._finish)
        #: the engine the network runs in now ("torch", "openvino" or "onnxruntime")
        self.engine = "torch"
        self._runner: Runner | None = None

    def _finish(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def use_engine(self, engine: str = "auto") -> str:
        """Run the network in ``engine`` from now on; returns the engine actually used.

        'auto' picks torch on CUDA and the fastest CPU runtime installed. A runtime that is
        missing or cannot build the network leaves torch in charge, with an
        EngineFallbackWarning saying why (results are the same within float32 rounding).
        """
        example = torch.zeros(1, 1, self.patch_size, self.patch_size)
        chosen, runner = _engine_runner(self, engine, example, n_out=1)
        self.engine, self._runner = chosen, runner
        return chosen

    def _run_padded(self, arr: np.ndarray) -> Iterator[np.ndarray]:
        """The head's (N, C, H, W) float32 output per chunk of ``arr`` (N, 1, H, W)."""
        for t in self._chunks(arr):
            t, h, w = pad_to_multiple(t, 2**self.cfg.depth)
            if self._runner is not None:
                out = self._runner(t.numpy())[0]
            else:
                with self._autocast():
                    y = self.net(t)
                out = self._finish(y.float()).cpu().numpy()
            yield out[..., :h, :w]


class Segmenter(_ImagePredictor):
    """Cell and nucleus probability maps from preprocessed 260 nm images."""

    cfg: SegConfig

    def _finish(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)

    @torch.inference_mode()
    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,H,W) float32 contrast-stretched at pixel_size_um -> (cell_prob, nucleus_prob).

        Any H, W works: the network is fully convolutional and inputs are reflect-padded to a
        multiple of 2**depth, so whole (binned) tiles can be passed at once.
        """
        arr = _check_batch(batch, "Segmenter")
        p = np.concatenate(list(self._run_padded(arr[:, None])))
        return (
            np.ascontiguousarray(p[:, 0], dtype=np.float32),
            np.ascontiguousarray(p[:, 1], dtype=np.float32),
        )


class Stainer(_ImagePredictor):
    """Virtual Giemsa-like RGB from preprocessed 260 nm images (generator + post-processing)."""

    cfg: StainConfig

    def _finish(self, out: torch.Tensor) -> torch.Tensor:
        rgb = lab_norm_to_rgb(out[:, :1], out[:, 1:])
        return postprocess(rgb, self.cfg.rgb_offset, self.cfg.value_offset)

    @torch.inference_mode()
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N,H,W) preprocessed -> (N,H,W,3) float32 RGB 0..1 after the paper's post-processing."""
        arr = _check_batch(batch, "Stainer")
        rgb = np.concatenate(list(self._run_padded(arr[:, None])))
        return np.ascontiguousarray(rgb.transpose(0, 2, 3, 1), dtype=np.float32)


def _dihedral(t: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rotations and mirrors of a (N, C, H, W) batch, the identity first."""
    turns = [torch.rot90(t, k, dims=(2, 3)) for k in range(4)]
    return turns + [torch.flip(v, dims=(3,)) for v in turns]


class _ClassifyHead(nn.Module):
    """The classifier with its softmaxes: (p_dead (N,), p_class (N, C)) from crops."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d, c = self.net(x)
        return torch.softmax(d.float(), 1)[:, 1], torch.softmax(c.float(), 1)


class CellClassifier(_Predictor):
    """Dead/healthy then five-part class probabilities from composite crops."""

    cfg: ClassifyConfig

    def __init__(
        self,
        net: nn.Module,
        cfg: ClassifyConfig,
        card: dict[str, Any],
        device: str | torch.device = "auto",
        batch_size: int = 64,
        class_tta: bool = True,
    ) -> None:
        super().__init__(net, cfg, card, device, batch_size)
        self.crop_size: int = cfg.crop_size
        #: the head's classes (the network's own when it says: a freshly trained head follows
        #: its training data); ``predict`` gives their probabilities in ``self.classes`` order
        self.head_classes: tuple[str, ...] = tuple(getattr(net, "classes", cfg.classes))
        #: the columns of p_class: the five parts, then the pre-classes (all of them when the
        #: head learnt some)
        self.classes: tuple[str, ...] = output_names(self.head_classes)
        #: average the five-part probabilities over the 8 rotations and mirrors of each crop
        #: (a cell has no orientation; chosen on validation donors, see the model card's
        #: "selection"); the dead/healthy call uses the crop as it is, since averaging it
        #: never raised its validation accuracy
        self.class_tta = class_tta
        #: False where the card says no dead cells were trained on: p_dead is then 0
        self.dead_head = card.get("dead_head", "trained") != "absent"
        ck = card.get("checkpoint")
        self.checkpoint: DeadCheckpoint | None = DeadCheckpoint.from_dict(ck) if ck else None
        self.head = _ClassifyHead(self.net)
        self.engine = "torch"
        self._runner: Runner | None = None

    def use_engine(self, engine: str = "auto") -> str:
        """As ``Segmenter.use_engine``: the classifier in ``engine``; returns the one used."""
        s = self.crop_size
        chosen, runner = _engine_runner(self, engine, torch.zeros(2, 3, s, s), n_out=2)
        self.engine, self._runner = chosen, runner
        return chosen

    def _probs(self, t: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        if self._runner is not None:
            d, c = self._runner(t.numpy())
            return np.asarray(d), np.asarray(c)
        with self._autocast():
            d, c = self.head(t)
        return d.float().cpu().numpy(), c.float().cpu().numpy()

    @torch.inference_mode()
    def predict_raw(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network outputs without the dead-cell checkpoint: (p_dead (N,), p_class (N, C)),
        C = len(self.classes)."""
        arr = np.asarray(crops, dtype=np.float32)
        s = self.crop_size
        if arr.ndim != 4 or arr.shape[1:] != (3, s, s):
            raise ModelError(
                f"CellClassifier expects composite crops (N, 3, {s}, {s}), got {arr.shape}"
            )
        if len(arr) == 0:
            return np.zeros(0, np.float32), np.zeros((0, len(self.classes)), np.float32)
        dead, cls = [], []
        for t in self._chunks(arr):
            views = _dihedral(t) if self.class_tta else [t]
            d, c = self._probs(torch.cat(views))
            n = len(t)
            # no dead cells were trained on: p_dead is 0, never an untrained head's guess
            dead.append(d[:n] if self.dead_head else np.zeros_like(d[:n]))
            cls.append(widen(c.reshape(len(views), n, -1).mean(0), self.head_classes))
        return np.concatenate(dead).astype(np.float32), np.concatenate(cls).astype(np.float32)

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,3,S,S) composite crops -> (p_dead (N,), p_class (N, C)), class order
        ``self.classes`` (the five parts, then the pre-classes).

        Cells called dead that the checkpoint hands back as healthy report p_dead = 0.
        """
        p_dead, p_class = self.predict_raw(crops)
        if self.checkpoint is not None and len(p_dead):
            p_dead = self.checkpoint.apply(p_dead, crop_features(np.asarray(crops, np.float32)))
        return p_dead, p_class


def _random(kind: str, seed: int = 0) -> tuple[nn.Module, Any, dict[str, Any]]:
    cfg = preset(kind, "small")
    torch.manual_seed(seed)
    return build_network(kind, cfg).eval(), cfg, {"kind": kind, "random": True}


def _load(kind: str, path_or_name: str | Path) -> tuple[nn.Module, Any, dict[str, Any]]:
    if str(path_or_name) == "random":
        return _random(kind)
    return load_model(path_or_name, kind)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Load single-threaded. A parallel torch operation gives the calling thread (often the
    main thread) an OpenMP team of its own; beside the analysis thread's team that made every
    later operation ~30 % slower on 2 cores (1.35 against 1.07 s per tile, measured), as the
    teams' threads outnumber the cores and no longer spin-wait between operations."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


_Net = TypeVar("_Net", bound=_Predictor)


def _build(cls: Callable[..., _Net], kind: str, path_or_name: str | Path, device: str) -> _Net:
    with _one_torch_thread():
        return cls(*_load(kind, path_or_name), device=device)


def load_segmenter(path_or_name: str | Path = "default", device: str = "auto") -> Segmenter:
    """A checked segmentation model ('default' = the shipped weights, 'random' = untrained)."""
    return _build(Segmenter, "segment", path_or_name, device)


def load_stainer(path_or_name: str | Path = "default", device: str = "auto") -> Stainer:
    """A checked staining generator ('default' = the shipped weights, 'random' = untrained)."""
    return _build(Stainer, "stain", path_or_name, device)


def load_classifier(path_or_name: str | Path = "default", device: str = "auto") -> CellClassifier:
    """A checked two-stage classifier ('default' = the shipped weights, 'random' = untrained)."""
    return _build(CellClassifier, "classify", path_or_name, device)
