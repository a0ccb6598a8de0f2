"""Inference engines for the networks: torch eager, OpenVINO or ONNX Runtime.

On CPU the same float32 network runs faster in OpenVINO (1.6-2.3x on 2 idle cores, far more
when other work loads them) or ONNX Runtime (1.3-1.8x) than in torch eager
(``benchmarks/bench_analysis.py --compare-eager``, benchmarks/RESULTS.md). Both read one
ONNX export of the network, made here with ``torch.onnx`` and cached under the user's cache
folder by a hash of the weights, the architecture and the export code, so an export is made
once per model and never downloaded. Each engine computes in float32; results agree with
torch eager to ~1e-4 in logits (tests/models/test_runtime.py).

Where a chosen runtime is missing or fails to build, the caller falls back to torch with a
``EngineFallbackWarning`` that says why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from uvscope.errors import ModelError

Engine = Literal["auto", "torch", "openvino", "onnxruntime"]
ENGINES: tuple[str, ...] = ("auto", "torch", "openvino", "onnxruntime")
#: bumped whenever the exported graph changes for the same weights (invalidates the cache)
EXPORT_VERSION = 1
#: the runtimes in the order "auto" prefers them on CPU (fastest first, measured)
_CPU_PREFERENCE = ("openvino", "onnxruntime")

Runner = Callable[[np.ndarray], tuple[np.ndarray, ...]]


class EngineFallbackWarning(UserWarning):
    """A chosen inference engine could not be used; the networks run in torch instead."""


def available(engine: str) -> bool:
    """Whether the runtime behind ``engine`` (and the ONNX exporter it needs) is installed."""
    if engine == "torch":
        return True
    if engine not in ("openvino", "onnxruntime"):
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", engine))


def resolve_engine(engine: str, device: torch.device) -> str:
    """The engine to use: 'auto' is torch on CUDA, else the fastest CPU runtime installed."""
    if engine not in ENGINES:
        raise ModelError(f"unknown inference engine {engine!r}; choose one of {list(ENGINES)}")
    if engine != "auto":
        return engine
    if device.type != "cpu":
        return "torch"
    return next((e for e in _CPU_PREFERENCE if available(e)), "torch")


def cache_dir() -> Path:
    """Where exported networks are kept: $UVSCOPE_CACHE_DIR, else the user's cache folder."""
    env = os.environ.get("UVSCOPE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "uvscope" / "networks"


def network_key(module: nn.Module, extra: str = "") -> str:
    """Hash of everything the exported graph depends on: tensors (weights and buffers, with
    their names and shapes), ``extra`` (architecture, output head) and the export version."""
    h = hashlib.sha256(f"v{EXPORT_VERSION}|{torch.__version__}|{extra}".encode())
    for name, t in sorted(module.state_dict(keep_vars=False).items()):
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    for name, b in sorted(module.named_buffers()):  # non-persistent ones (a lightness curve)
        h.update(f"buf:{name}".encode())
        h.update(b.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def export_onnx(module: nn.Module, example: torch.Tensor, path: Path, n_out: int) -> Path:
    """Export ``module`` (one input (N, C, H, W), ``n_out`` outputs) with dynamic N, H, W.

    Written to a temporary file and renamed, so a half-written export is never used.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    outs = [f"y{i}" for i in range(n_out)]
    axes = {name: {0: "n", 2: "h", 3: "w"} for name in ["x", *outs]}
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shape checks in forward
            torch.onnx.export(
                module.eval(),
                (example,),
                tmp,
                input_names=["x"],
                output_names=outs,
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def cached_export(module: nn.Module, example: torch.Tensor, n_out: int, extra: str) -> Path:
    """The ONNX file of ``module``, exported on first use and reused while nothing changed."""
    path = cache_dir() / f"{network_key(module, extra)[:32]}.onnx"
    if not path.exists():
        try:
            export_onnx(module, example, path, n_out)
        except OSError:  # read-only or full cache: export beside the temporary files instead
            path = Path(tempfile.gettempdir()) / "uvscope-networks" / path.name
            if not path.exists():
                export_onnx(module, example, path, n_out)
    return path


def _openvino_runner(path: Path, threads: int) -> Runner:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        str(path),
        "CPU",
        {
            # float32 everywhere: on CPUs with AMX/AVX512-BF16 OpenVINO would otherwise
            # compute in bfloat16 and the results would no longer match torch's
            "INFERENCE_PRECISION_HINT": "f32",
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        },
    )
    request = compiled.create_infer_request()
    lock = threading.Lock()  # one request: callers on several threads take turns

    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        with lock:
            res = request.infer({0: np.ascontiguousarray(x, np.float32)})
            return tuple(np.array(res[o]) for o in compiled.outputs)

    return run


def _onnxruntime_runner(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(sess.run(None, {"x": np.ascontiguousarray(x, np.float32)}))

    return run


def build_runner(
    engine: str,
    module: nn.Module,
    example: torch.Tensor,
    extra: str,
    threads: int,
    n_out: int = 1,
) -> Runner:
    """A function (N, C, H, W) float32 -> the module's outputs, run by ``engine`` on CPU
    with ``threads`` threads. ``extra`` names what the graph depends on besides its tensors.

    Raises ModelError when the runtime is missing or cannot build the network.
    """
    if engine not in ("openvino", "onnxruntime"):
        raise ModelError(f"build_runner takes 'openvino' or 'onnxruntime', not {engine!r}")
    if not available(engine):
        raise ModelError(
            f"the {engine} runtime is not installed (pip install onnx {engine}, or reinstall "
            "uvscope); set inference.engine = 'torch' to silence this"
        )
    try:
        path = cached_export(module, example, n_out, extra)
        make = _openvino_runner if engine == "openvino" else _onnxruntime_runner
        return make(path, max(threads, 1))
    except Exception as err:  # noqa: BLE001 - any runtime failure becomes one clear ModelError
        raise ModelError(f"could not prepare the network for {engine}: {err}") from err
