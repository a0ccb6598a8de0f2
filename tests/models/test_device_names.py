"""A device name uvscope cannot run on is one clean error naming the setting."""

from __future__ import annotations

import pytest

from uvscope.analysis.settings import AnalysisSettings
from uvscope.errors import ConfigError, ModelError
from uvscope.models.predict import resolve_device


@pytest.mark.parametrize("name", ["tpu", "", "cuda:x", "mps", "gpu"])
def test_unknown_devices_are_refused(name: str) -> None:
    with pytest.raises(ModelError, match="auto, cpu or cuda"):
        resolve_device(name)
    settings = AnalysisSettings()
    with pytest.raises(ConfigError, match="inference.device"):
        settings.replace(inference={**settings.inference.model_dump(), "device": name})


def test_known_devices_pass() -> None:
    assert resolve_device("cpu").type == "cpu"
    settings = AnalysisSettings()
    for name in ("auto", "cpu", "cuda", "cuda:1"):
        new = settings.replace(inference={**settings.inference.model_dump(), "device": name})
        assert new.inference.device == name
