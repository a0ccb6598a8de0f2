"""Training checkpoints for resume, without pickle: tensors in safetensors, the rest in JSON.

Optimiser states are flattened to named tensors ("opt0/3/exp_avg") plus a JSON description of
param groups and scalar entries, so a resumed run continues with the same Adam moments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from uvscope.errors import ModelError


def save_checkpoint(
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: list[torch.optim.Optimizer],
    state: dict[str, Any],
) -> None:
    """Write <path>.safetensors + <path>.json atomically enough (tmp then rename)."""
    tensors: dict[str, torch.Tensor] = {}
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"{name}/{k}"] = v.detach().cpu().contiguous()
    opt_meta = []
    for i, opt in enumerate(optimizers):
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"opt{i}/{pid}/{k}"] = v.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(pid), {})[k] = v
        opt_meta.append({"param_groups": sd["param_groups"], "scalars": scalars})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.safetensors")
    save_file(tensors, str(tmp))
    tmp.replace(path.with_suffix(".safetensors"))
    path.with_suffix(".json").write_text(
        json.dumps({"state": state, "optimizers": opt_meta}, default=str)
    )


def load_checkpoint(
    path: Path, modules: dict[str, nn.Module], optimizers: list[torch.optim.Optimizer]
) -> dict[str, Any]:
    """Restore modules and optimisers in place; returns the saved training state."""
    st_path, js_path = path.with_suffix(".safetensors"), path.with_suffix(".json")
    if not st_path.exists() or not js_path.exists():
        raise ModelError(f"no checkpoint to resume at {st_path}; start without --resume")
    tensors = load_file(str(st_path))
    meta = json.loads(js_path.read_text())
    for name, m in modules.items():
        prefix = f"{name}/"
        sd = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            m.load_state_dict(sd)
        except RuntimeError as err:
            raise ModelError(
                f"checkpoint {st_path} does not fit this model ({err}); start without --resume"
            ) from err
    for i, opt in enumerate(optimizers):
        om = meta["optimizers"][i]
        state: dict[int, dict[str, Any]] = {}
        for k, v in tensors.items():
            if k.startswith(f"opt{i}/"):
                _, pid, key = k.split("/", 2)
                state.setdefault(int(pid), {})[key] = v
        for pid, sc in om["scalars"].items():
            state.setdefault(int(pid), {}).update(sc)
        opt.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    return dict(meta["state"])
