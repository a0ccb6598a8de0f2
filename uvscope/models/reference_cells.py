"""Reference cells per class: typical examples a reviewer holds a doubtful cell against.

Two sources, a lab's own first: a folder of labelled crops, one folder per class, the layout
``uvscope train classify --data`` takes (folder names as ``class_index`` reads them, "dead"
included); for every class the lab's folder lacks, the built-in ones shipped with uvscope
(``uvscope/models/reference_images/<class>/*.jpg``). uvscope's classifier is trained on
simulated cells, so the built-in references are simulated too, with their true class
(``uvscope.models.reference_render`` draws them; ``scripts/make_reference_cells.py`` writes
them). Reading and choosing needs no simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from uvscope.classes import DEAD
from uvscope.errors import ModelError
from uvscope.models.arch import CLASS_NAMES
from uvscope.models.userdata import IMAGE_EXT, class_index, read_image

#: the references shipped with uvscope (written by scripts/make_reference_cells.py)
BUILTIN_DIR = Path(__file__).parent / "reference_images"
#: references shown per class: a few, to compare with, not a training set
PER_CLASS = 3


@dataclass
class ReferenceCells:
    """RGB uint8 images by class name, where each class's come from (``source``), and why a
    lab's folder could not be used (``problem``, empty when it was)."""

    images: dict[str, list[np.ndarray]] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    problem: str = ""


def _class_name(folder: Path) -> str:
    idx = class_index(folder.name)
    if idx is None:
        raise ModelError(
            f"folder {folder.name!r} in {folder.parent} is not a class; name each folder after "
            f"one of {list(CLASS_NAMES)} or 'dead', as for `uvscope train classify --data`"
        )
    return DEAD if idx == -1 else CLASS_NAMES[idx]


def load_reference_folder(root: Path, per_class: int = PER_CLASS) -> dict[str, list[np.ndarray]]:
    """The first ``per_class`` images (by name) of each class folder under ``root``; a folder
    that is not a class, an unreadable image or no image at all is a ModelError saying so."""
    root = Path(root)
    if not root.is_dir():
        raise ModelError(f"reference cell folder {root} does not exist; choose an existing folder")
    out: dict[str, list[np.ndarray]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        cls = _class_name(sub)
        files = sorted(f for f in sub.iterdir() if f.suffix.lower() in IMAGE_EXT)[:per_class]
        images = [(read_image(f) * 255.0 + 0.5).clip(0, 255).astype(np.uint8) for f in files]
        if images:
            out.setdefault(cls, []).extend(images)
    if not out:
        raise ModelError(
            f"no images found under {root}/<class>/; put a few crops (PNG, JPEG, TIFF) of each "
            "class in a folder named after it"
        )
    return out


def choose_reference_cells(lab_folder: Path | None) -> ReferenceCells:
    """The lab's references where it has a class, the built-in ones for the rest; a lab folder
    that cannot be read leaves the built-in ones, with the reason in ``problem``."""
    refs = ReferenceCells()
    if BUILTIN_DIR.is_dir():
        for cls, images in load_reference_folder(BUILTIN_DIR).items():
            refs.images[cls] = images
            refs.source[cls] = "built-in (simulated, true class)"
    if lab_folder is not None:
        try:
            lab = load_reference_folder(lab_folder)
        except ModelError as err:
            refs.problem = f"the lab's reference cells are not used: {err}"
            return refs
        for cls, images in lab.items():
            refs.images[cls] = images
            refs.source[cls] = f"the lab's ({lab_folder})"
    return refs


def write_reference_folder(
    images: dict[str, list[np.ndarray]], root: Path, jpeg_quality: int = 92
) -> list[Path]:
    """Write references in the lab layout (``root/<class>/<class>_<n>.jpg``); return the files.
    JPEG, not PNG: the 260 nm half's sensor noise made a PNG 9 KB a cell, a JPEG at quality
    92 3 KB, and no difference shows at the size the strip draws them."""
    written = []
    for cls, crops in images.items():
        folder = Path(root) / cls
        folder.mkdir(parents=True, exist_ok=True)
        for n, crop in enumerate(crops):
            path = folder / f"{cls}_{n}.jpg"
            Image.fromarray(crop).save(path, quality=jpeg_quality)
            written.append(path)
    return written
