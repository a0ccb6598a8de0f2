"""OME-Zarr (NGFF 0.4) export of a scan's analysis mosaics, for napari and other NGFF readers.

``export_ome_zarr(scan_dir)`` writes, beside the pyramidal OME-TIFFs it reads::

    analysis/mosaic.ome.zarr/            gray mosaic (c, y, x), every pyramid level
        labels/cells/                    the label mosaic as an NGFF label image: one colour
                                         per cell from its class (``uvscope.classes``), and
                                         the class of every cell as a label property
    analysis/mosaic_stained.ome.zarr/    virtually stained mosaic, 3 channels (R, G, B)

Coordinates are micrometres on the stage: each level carries its scale and a translation to
where its first pixel centre lies, so the mosaics overlay the cell table's ``x_um``/``y_um``.
The TIFF levels are copied chunk band by chunk band (bounded memory at any mosaic size).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from uvscope.classes import LABEL_STRIDE, class_colour
from uvscope.errors import StorageError

NGFF_VERSION = "0.4"
CHUNK = 256


def _levels(path: Path) -> list[Any]:
    """The pyramid levels of an OME-TIFF as lazy zarr arrays (read by tiles)."""
    import zarr

    store = tifffile.imread(path, aszarr=True)
    group = zarr.open(store, mode="r")
    if isinstance(group, zarr.Array):
        return [group]
    return [group[str(k)] for k in range(len(list(group.keys())))]


def _multiscales(
    name: str, n_levels: int, px_um: float, origin_um: tuple[float, ...], channel_axis: bool
) -> dict[str, Any]:
    axes = [
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    if channel_axis:
        axes.insert(0, {"name": "c", "type": "channel"})
    datasets = []
    for k in range(n_levels):
        s = px_um * 2**k
        # the centre of a level-k pixel lies (2**k - 1) / 2 level-0 pixels in from the corner
        t = [o + (2**k - 1) / 2 * px_um for o in origin_um]
        lead = [1.0] if channel_axis else []
        zero = [0.0] if channel_axis else []
        datasets.append(
            {
                "path": str(k),
                "coordinateTransformations": [
                    {"type": "scale", "scale": [*lead, s, s]},
                    {"type": "translation", "translation": [*zero, *t]},
                ],
            }
        )
    return {"version": NGFF_VERSION, "name": name, "axes": axes, "datasets": datasets}


def _copy_levels(levels: list[Any], group: Any, rgb: bool, labels: bool) -> None:
    """Each TIFF level into array ``k`` of ``group``: (c, y, x) for images, (y, x) labels."""
    for k, src in enumerate(levels):
        rows, cols = src.shape[:2]
        shape: tuple[int, ...]
        chunks: tuple[int, ...]
        if labels:
            shape, chunks = (rows, cols), (CHUNK, CHUNK)
        else:
            c = 3 if rgb else 1
            shape, chunks = (c, rows, cols), (1, CHUNK, CHUNK)
        dst = group.create_array(
            str(k),
            shape=shape,
            chunks=chunks,
            dtype=src.dtype,
            fill_value=0,
            chunk_key_encoding={"name": "v2", "separator": "/"},
            compressors=_compressor(),
        )
        for r0 in range(0, rows, CHUNK):
            band = np.asarray(src[r0 : r0 + CHUNK])
            if labels:
                dst[r0 : r0 + band.shape[0]] = band
            elif rgb:
                dst[:, r0 : r0 + band.shape[0]] = np.moveaxis(band, -1, 0)
            else:
                dst[0, r0 : r0 + band.shape[0]] = band


def _compressor() -> Any:
    """Deflate: every zarr reader (Python, Java, JavaScript) decodes it."""
    from numcodecs import Zlib

    return Zlib(level=6)


def _label_colours(cells: list[dict[str, str]], stride: int) -> tuple[list[Any], list[Any]]:
    colours, props = [], []
    for c in cells:
        value = int(c["tile"]) * stride + int(c["label"])
        rgb = class_colour(c["cell_class"])
        colours.append({"label-value": value, "rgba": [*rgb, 255]})
        props.append({"label-value": value, "class": c["cell_class"], "cell_id": c["cell_id"]})
    return colours, props


def export_ome_zarr(scan_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """Write the OME-Zarr mosaics of an analysed scan (``out``: a folder, default
    ``DIR/analysis``); returns the stores written. Needs the ``zarr`` package."""
    try:
        import zarr
    except ImportError as err:  # pragma: no cover - zarr is a dependency
        raise StorageError("OME-Zarr export needs the zarr package: pip install zarr") from err
    import csv

    root = Path(scan_dir) / "analysis"
    doc_path = root / "differential.json"
    if not doc_path.exists():
        raise StorageError(f"{root} holds no finished analysis; run `uvscope analyze` first")
    mosaic = json.loads(doc_path.read_text(encoding="utf-8")).get("mosaic", {})
    px = float(mosaic["pixel_size_um"])
    tile_px = px / int(mosaic.get("scale", 1))
    origin_um = tuple(
        float(v) * tile_px + (int(mosaic.get("scale", 1)) - 1) / 2 * tile_px
        for v in mosaic["origin_px"]
    )
    with open(root / "cells.csv", newline="", encoding="utf-8") as fh:
        cells = list(csv.DictReader(fh))
    dest = Path(out) if out is not None else root
    written = []
    for kind, store_name in (("gray", "mosaic.ome.zarr"), ("stained", "mosaic_stained.ome.zarr")):
        src = root / f"mosaic_{kind}.ome.tif"
        if not src.exists():
            continue
        path = dest / store_name
        tmp = path.with_name(path.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        group = zarr.open_group(tmp, mode="w", zarr_format=2)
        levels = _levels(src)
        _copy_levels(levels, group, rgb=kind == "stained", labels=False)
        group.attrs["multiscales"] = [_multiscales(kind, len(levels), px, origin_um, True)]
        group.attrs["omero"] = _omero(kind, levels[0].dtype)
        if kind == "gray" and (root / "mosaic_labels.ome.tif").exists():
            _write_labels(group, root / "mosaic_labels.ome.tif", px, origin_um, cells, LABEL_STRIDE)
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
        written.append(path)
    return written


def _write_labels(
    group: Any,
    src: Path,
    px: float,
    origin_um: tuple[float, ...],
    cells: list[dict[str, str]],
    stride: int,
) -> None:
    labels = group.create_group("labels")
    labels.attrs["labels"] = ["cells"]
    cells_group = labels.create_group("cells")
    levels = _levels(src)
    _copy_levels(levels, cells_group, rgb=False, labels=True)
    cells_group.attrs["multiscales"] = [_multiscales("cells", len(levels), px, origin_um, False)]
    colours, props = _label_colours(cells, stride)
    cells_group.attrs["image-label"] = {
        "version": NGFF_VERSION,
        "colors": colours,
        "properties": props,
        "source": {"image": "../../"},
    }


def _omero(kind: str, dtype: np.dtype) -> dict[str, Any]:
    if kind == "stained":
        chans = [("R", "FF0000"), ("G", "00FF00"), ("B", "0000FF")]
        window: dict[str, float] = {"start": 0, "end": 255, "min": 0, "max": 255}
    else:
        chans = [("gray (transmission)", "FFFFFF")]
        window = {"start": 0.0, "end": 1.05, "min": 0.0, "max": 2.0}
    channels: list[Mapping[str, Any]] = [
        {"label": lab, "color": col, "window": window, "active": True} for lab, col in chans
    ]
    return {
        "name": kind,
        "version": NGFF_VERSION,
        "channels": channels,
        "rdefs": {"model": "color" if kind == "stained" else "greyscale"},
    }
