"""Write synthetic tiles into a real scan folder (the integrator's layout) for end-to-end tests."""

from __future__ import annotations

from pathlib import Path

from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.io.ome import ImageMeta
from uvscope.io.scanfolder import ScanFolder


def write_scan_folder(root: Path, specs: list[TileSpec], tiles: list[Tile]) -> ScanFolder:
    px = tiles[0].pixel_size_um
    manifest = {
        "config": {"name": "synthetic"},
        "rig": {"name": "synthetic rig"},
        "plan": {
            "tiles": len(specs),
            "pixel_size_um": px,
            "wavelengths": sorted(tiles[0].normalised),
            "positions": [[s.index, s.row, s.col, s.x_mm, s.y_mm] for s in specs],
        },
    }
    folder = ScanFolder.create(root, manifest)
    for t in tiles:
        for nm, img in t.normalised.items():
            meta = ImageMeta(pixel_size_um=px, wavelength_nm=nm, x_mm=t.x_mm, y_mm=t.y_mm)
            folder.write_tile_images(t.index, nm, None, img, meta)
        folder.append_tile(t.to_record())
    folder.release()  # the scan that wrote it is over: its writer lock goes with it
    return folder
