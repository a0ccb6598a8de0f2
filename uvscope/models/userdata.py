"""Loaders for a lab's own labelled data.

* Crops per class (ImageFolder layout): DIR/<class>/*.png|jpg|tif. Class folders are matched to
  uvscope's class names case-insensitively (also plurals); a folder named "dead" holds dead
  cells. Images are resized to the model's crop size and scaled to 0..1. Grayscale images are
  repeated to 3 channels; for deep-UV data, save composite crops (see
  uvscope.models.preprocess.composite_crop) as 3-channel images.
* Images with masks: DIR/images/<name>.tif, DIR/cells/<name>.tif, DIR/nuclei/<name>.tif (label
  images or binary masks, same shape as the image).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from uvscope.errors import ModelError
from uvscope.models.arch import CLASS_NAMES

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


@dataclass
class CropSet:
    """Crops (N,3,S,S) float32 0..1, class index (-1 = none, e.g. dead), dead flag (0/1)."""

    x: np.ndarray
    label: np.ndarray
    dead: np.ndarray
    paths: list[str]


def class_index(folder_name: str) -> int | None:
    """Index in CLASS_NAMES for a folder name; -1 for 'dead'; None if unrecognised."""
    n = folder_name.strip().lower().rstrip("s")
    if n == "dead":
        return -1
    for i, c in enumerate(CLASS_NAMES):
        if n == c or n == c.rstrip("s"):
            return i
    return None


def read_image(path: Path) -> np.ndarray:
    """RGB float 0..1; a file that is not an image is a ModelError naming it."""
    try:
        return _decode_image(path)
    except (OSError, ValueError) as err:  # PIL and tifffile errors are either
        raise ModelError(
            f"{path} cannot be read as an image ({err}); re-save it as PNG, JPEG or TIFF, "
            "or remove it"
        ) from None


def _decode_image(path: Path) -> np.ndarray:
    if path.suffix.lower() in {".tif", ".tiff"}:
        arr = tifffile.imread(path).astype(np.float32)
        if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
            arr = np.moveaxis(arr, 0, -1)
        peak = 65535.0 if arr.max() > 255 else (255.0 if arr.max() > 1.0 else 1.0)
        arr = arr / peak
    else:
        arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return arr[..., :3]


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    chans = [
        np.asarray(Image.fromarray(img[..., c]).resize((size, size), Image.Resampling.BILINEAR))
        for c in range(img.shape[-1])
    ]
    return np.stack(chans).astype(np.float32)


RGB_NORMALISATION = "per crop and channel, 1st-99th percentile stretched to 0..1"


def normalise_rgb(x: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """Stretch each channel of each (N,3,S,S) colour crop between its percentiles.

    A crude stain and white-balance normalisation: one lab's yellowish background and another's
    white one, or a stronger or weaker stain, map to the same range, so a classifier trained
    on one source sees the other's cells in familiar colours.
    """
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    lo = np.percentile(flat, low_pct, axis=-1)[..., None, None]
    hi = np.percentile(flat, high_pct, axis=-1)[..., None, None]
    out: np.ndarray = np.clip((x - lo) / np.maximum(hi - lo, 1e-3), 0.0, 1.0).astype(np.float32)
    return out


def load_crop_folder(root: str | Path, crop_size: int) -> CropSet:
    """Read an ImageFolder-layout directory of cell crops; unknown folder names are an error."""
    root = Path(root)
    if not root.is_dir():
        raise ModelError(f"crop folder {root} does not exist")
    xs, labels, dead, paths = [], [], [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        idx = class_index(sub.name)
        if idx is None:
            raise ModelError(
                f"folder {sub.name!r} in {root} is not a class; use {list(CLASS_NAMES)} or 'dead'"
            )
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() in IMAGE_EXT:
                xs.append(_resize(read_image(f), crop_size))
                labels.append(idx)
                dead.append(1 if idx == -1 else 0)
                paths.append(str(f))
    if not xs:
        raise ModelError(f"no images found under {root}/<class>/")
    return CropSet(np.stack(xs), np.array(labels), np.array(dead), paths)


@dataclass
class MaskedImage:
    name: str
    gray: np.ndarray
    cell_labels: np.ndarray
    nucleus_labels: np.ndarray


def load_mask_folder(root: str | Path) -> list[MaskedImage]:
    """Read DIR/images, DIR/cells, DIR/nuclei with matching file names."""
    root = Path(root)
    img_dir, cell_dir, nuc_dir = root / "images", root / "cells", root / "nuclei"
    if not img_dir.is_dir():
        raise ModelError(f"{root} needs images/, cells/ and nuclei/ folders with matching names")
    out = []
    for f in sorted(img_dir.iterdir()):
        if f.suffix.lower() not in IMAGE_EXT:
            continue
        cf, nf = cell_dir / f.name, nuc_dir / f.name
        if not cf.exists() or not nf.exists():
            raise ModelError(f"{f.name} has no matching mask in {cell_dir} and {nuc_dir}")
        gray = (
            read_image(f).mean(axis=-1)
            if f.suffix.lower() not in {".tif", ".tiff"}
            else tifffile.imread(f).astype(np.float32)
        )
        cells = np.asarray(
            tifffile.imread(cf) if cf.suffix.lower() in {".tif", ".tiff"} else Image.open(cf)
        )
        nucs = np.asarray(
            tifffile.imread(nf) if nf.suffix.lower() in {".tif", ".tiff"} else Image.open(nf)
        )
        if not (gray.shape == cells.shape[:2] == nucs.shape[:2]):
            raise ModelError(f"{f.name}: image and masks differ in shape")
        out.append(MaskedImage(f.stem, gray, cells.astype(np.int32), nucs.astype(np.int32)))
    if not out:
        raise ModelError(f"no images in {img_dir}")
    return out
