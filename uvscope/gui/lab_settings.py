"""The lab's own settings for the operator's window, from a TOML file the lab keeps.

What a lab decides once for every slide, not per scan: whether a scan may start without the
sample's identity, the reference intervals the differential is marked against
(``[reference]``, see ``uvscope.analysis.reference``) and the lab's own reference cells.
``uvscope gui --lab FILE`` names the file; without it the window looks for ``lab.toml`` in the
user's uvscope config folder and otherwise uses the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from uvscope.analysis.reference import ReferenceIntervals
from uvscope.config import Model, load_toml

#: environment variable naming the lab settings file (``uvscope gui --lab`` sets it too)
LAB_ENV = "UVSCOPE_LAB"


class LabSettings(Model):
    """Per-lab rules of the operator's window."""

    require_identity: bool = Field(
        True,
        description="Start a scan only with the sample id, slide id and operator filled in "
        "(positive identification); false lets a research lab scan unnamed slides",
    )
    reference: ReferenceIntervals = Field(
        default_factory=ReferenceIntervals,
        description="Reference intervals of the differential (H/L marks, critical cells); "
        "the defaults are textbook adult ranges",
    )
    reference_cells: Path | None = Field(
        None,
        description="A folder of the lab's own typical cells, one folder per class (the "
        "layout `uvscope train classify --data` takes), shown under the review's gallery "
        "instead of the built-in simulated ones; relative to this file",
    )


def default_lab_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "uvscope" / "lab.toml"


def load_lab_settings(path: str | Path | None = None) -> LabSettings:
    """The named file, else $UVSCOPE_LAB, else the user's lab.toml when there is one, else
    the defaults; a bad file is a ConfigError naming the field."""
    if path is None:
        env = os.environ.get(LAB_ENV)
        path = Path(env) if env else default_lab_path()
        if not env and not path.exists():
            return LabSettings()
    lab = load_toml(LabSettings, path)
    if lab.reference_cells is not None and not lab.reference_cells.is_absolute():
        lab = lab.model_copy(update={"reference_cells": Path(path).parent / lab.reference_cells})
    return lab
