"""Colours shared by the mosaic outlines, the gallery and the bar chart."""

from __future__ import annotations

_CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "neutrophil": (31, 119, 180),
    "lymphocyte": (44, 160, 44),
    "monocyte": (255, 127, 14),
    "eosinophil": (214, 39, 40),
    "basophil": (148, 103, 189),
    "dead": (127, 127, 127),
}


def class_color(name: str) -> tuple[int, int, int]:
    """A stable colour per class; unknown classes get a colour from their name's hash."""
    if name in _CLASS_COLORS:
        return _CLASS_COLORS[name]
    h = sum(ord(ch) * 31**i for i, ch in enumerate(name)) & 0xFFFFFF
    return ((h >> 16) & 0xFF, (h >> 8) & 0xFF, h & 0xFF)
