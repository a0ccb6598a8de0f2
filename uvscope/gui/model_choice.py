"""The model sets an operator can pick for a scan's analysis (``[analysis] models``).

A model set is what ``uvscope.analysis.models.load_models`` takes for all three networks:
"default" (the shipped ``weights/{segment,classify,stain}.safetensors``) or a folder holding
those files, each with its JSON model card beside it (the registry refuses weights without
one). The weights registry has no listing function, so the shipped model cards are listed
here through importlib.resources. Qt-free, so it is testable on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

#: the networks of a set; segment and classify are required, stain is optional
KINDS: tuple[str, ...] = ("segment", "classify", "stain")
REQUIRED: tuple[str, ...] = ("segment", "classify")
DEFAULT = "default"


@dataclass(frozen=True)
class ModelChoice:
    value: str  #: what goes into ``[analysis] models``
    label: str  #: what the combo box shows
    kinds: tuple[str, ...]  #: the networks whose model cards were found
    description: str  #: a tooltip: what each card says, or what is missing

    @property
    def complete(self) -> bool:
        return all(k in self.kinds for k in REQUIRED)


def weights_root() -> Traversable | None:
    """The registry's shipped-weights folder (uvscope/models/weights), None if absent."""
    try:
        root = resources.files("uvscope.models").joinpath("weights")
    except ModuleNotFoundError:
        return None
    return root if root.is_dir() else None


def _card(folder: Traversable, kind: str) -> dict[str, object] | None:
    card = folder.joinpath(f"{kind}.json")
    if not card.is_file():
        return None
    try:
        doc = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("kind", kind) == kind else None


def _describe(folder: Traversable, what: str) -> tuple[tuple[str, ...], str]:
    kinds, lines = [], [what]
    for kind in KINDS:
        card = _card(folder, kind)
        if card is None:
            lines.append(f"{kind}: no model card")
            continue
        kinds.append(kind)
        params = card.get("n_parameters")
        size = f"{int(params) / 1e6:.2f} M parameters" if isinstance(params, int) else "card"
        px = card.get("pixel_size_um")
        lines.append(f"{kind}: {size}" + (f", {px} um/px" if px else ""))
    missing = [k for k in REQUIRED if k not in kinds]
    if missing:
        lines.append(
            f"missing {', '.join(missing)}: train with `uvscope train {missing[0]} ...` "
            "(analysis will refuse to start)"
        )
    return tuple(kinds), "\n".join(lines)


def model_choices(root: Traversable | Path | None = None) -> list[ModelChoice]:
    """ "default" first, then every sub-folder of the weights folder that holds a set."""
    root = weights_root() if root is None else root
    if root is None or not root.is_dir():
        return [
            ModelChoice(
                DEFAULT,
                f"{DEFAULT} (no shipped weights found)",
                (),
                "uvscope/models/weights is missing: train the networks with `uvscope train` "
                "or type the folder of a trained set",
            )
        ]
    kinds, text = _describe(root, "the shipped weights (uvscope/models/weights)")
    label = DEFAULT if all(k in kinds for k in REQUIRED) else f"{DEFAULT} (incomplete)"
    out = [ModelChoice(DEFAULT, label, kinds, text)]
    for sub in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name):
        kinds, text = _describe(sub, f"model set {sub.name}")
        if any(k in kinds for k in REQUIRED):
            # the registry resolves a folder by its path, so the path is the config value
            out.append(ModelChoice(str(Path(str(sub))), sub.name, kinds, text))
    return out
