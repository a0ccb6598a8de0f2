"""The small rig and scan files the CLI tests write (one definition, many test modules)."""

from __future__ import annotations

SMALL_RIG = """
name = "small simulated rig"
[camera]
backend = "sim"
width_px = 160
height_px = 120
pixel_size_um = 0.5
"""


def small_scan(rows: int, columns: int) -> str:
    """A 260 nm scan file of ``rows`` x ``columns`` tiles at the smear centre, 2 background
    and 2 dark frames (fast on the small rig)."""
    return f"""
name = "t"
[region]
center_mm = [42.5, 32.5]
rows = {rows}
columns = {columns}
[[wavelengths]]
nm = 260
exposure_ms = 50.0
[background]
frames = 2
dark_frames = 2
"""
