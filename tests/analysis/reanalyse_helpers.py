"""Model loaders for the Dask tests: importable by worker processes, and they record loads."""

from __future__ import annotations

import os
from pathlib import Path

from tests.analysis.synth import fake_models
from uvscope.analysis.models import ModelSet


def counting_loader(record: str) -> ModelSet:
    with open(Path(record), "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")
    return fake_models()
