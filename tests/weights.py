"""Skip a test only when the shipped weight files are absent, never on another error.

A broken registry (a wrong sha256, a renamed tensor, an import error) must fail the tests
that load the shipped networks, not turn them into skips.
"""

from __future__ import annotations

import pytest

from uvscope.models.registry import WEIGHTS_DIR, card_path


def require_shipped_weights(*kinds: str) -> None:
    """``pytest.skip`` unless every ``<kind>.safetensors`` and its card are shipped."""
    missing = [
        path.name
        for kind in kinds
        for path in (WEIGHTS_DIR / f"{kind}.safetensors",)
        for path in (path, card_path(path))
        if not path.is_file()
    ]
    if missing:
        pytest.skip(f"shipped weights absent from {WEIGHTS_DIR}: {', '.join(missing)}")
