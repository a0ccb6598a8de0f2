"""Colours of the GUI's gallery, cell details and bar chart: the classes' own colours
(``uvscope.classes``, the same as the mosaic outlines and the report)."""

from __future__ import annotations

from uvscope.classes import CLASS_COLOURS


def class_color(name: str) -> tuple[int, int, int]:
    """The class's colour; classes outside the differential (review-only: blast, smudge, ...)
    get a stable colour from their name's hash."""
    if name in CLASS_COLOURS:
        return CLASS_COLOURS[name]
    h = sum(ord(ch) * 31**i for i, ch in enumerate(name)) & 0xFFFFFF
    return ((h >> 16) & 0xFF, (h >> 8) & 0xFF, h & 0xFF)
