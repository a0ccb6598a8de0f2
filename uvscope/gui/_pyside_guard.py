"""Mitigation for a PySide6 6.12.0 reference-count bug on CPython older than 3.12.

PySide6 6.12.0 drops a reference to ``True`` on every Python-side signal emission (and to
``None`` in some slot calls). On CPython 3.12+ these objects are immortal and nothing happens;
on 3.11 the count reaches zero after a few thousand emissions and the interpreter aborts
("deallocating True or False"), e.g. a few seconds into a live view. PySide6 6.11.x and
earlier are not affected. Where the affected combination is installed we give the three
singletons a huge reference count, which is what CPython 3.12 does for them anyway.
The real fix is to install another PySide6: ``pip install "PySide6-Essentials!=6.12.0"``.
"""

from __future__ import annotations

import ctypes
import sys
import warnings
from importlib import metadata

_AFFECTED = ("6.12.0",)


def pyside_version() -> str | None:
    for dist in ("PySide6-Essentials", "PySide6"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def apply() -> bool:
    """Pin the singletons where the bug can bite; True when the mitigation was applied."""
    version = pyside_version()
    if version not in _AFFECTED or sys.version_info >= (3, 12):
        return False
    if sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False):
        refcnt = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field
        if refcnt.value < 1 << 40:
            refcnt.value += 1 << 40
    warnings.warn(
        f"PySide6 {version} has a reference-count bug on Python "
        f"{sys.version_info.major}.{sys.version_info.minor}; uvscope works around it, but "
        'please install another version: pip install "PySide6-Essentials!=6.12.0"',
        RuntimeWarning,
        stacklevel=2,
    )
    return True
