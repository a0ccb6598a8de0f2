"""Faults the tests inject into a scan's storage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def full_disk_at_tile(index: int) -> Callable[[Path], None]:
    """A ``ScanEngine.storage_hook`` that fails like a full disk when tile ``index`` is written."""
    prefix = f"tile_{index:05d}"

    def full_disk(path: Path) -> None:
        if path.name.startswith(prefix):
            raise OSError(28, "No space left on device")

    return full_disk
