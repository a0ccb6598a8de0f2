"""Reference cells per class: typical examples a reviewer holds a doubtful cell against.

Two sources, a lab's own first: a folder of labelled crops, one folder per class, the layout
``uvscope train classify --data`` takes (folder names as ``class_index`` reads them, "dead"
included); for every class the lab's folder lacks, the built-in ones shipped with uvscope
(``uvscope/models/reference_images/<class>/*.jpg``). uvscope's classifier is trained on
simulated cells, so the built-in references are simulated too: ``render_reference_cells``
draws the most typical cells of each class (diameter nearest the class's median, no other
white cell in the crop) from the simulator with their true class, as the gallery shows a
cell (stained crop beside the 260 nm crop). ``scripts/make_reference_cells.py`` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from uvscope.classes import DEAD
from uvscope.config import CameraConfig, SimConfig
from uvscope.errors import ModelError
from uvscope.models.arch import CLASS_NAMES
from uvscope.models.simgen import PRECLASS_DONORS
from uvscope.models.userdata import IMAGE_EXT, class_index, read_image
from uvscope.sim.world import CellRecord, SimWorld

#: the references shipped with uvscope (written by scripts/make_reference_cells.py)
BUILTIN_DIR = Path(__file__).parent / "reference_images"
#: references shown per class: a few, to compare with, not a training set
PER_CLASS = 3
#: side of each half (stained, gray) of a built-in reference, in pixels
CROP_PX = 64
#: JPEG, not PNG: the 260 nm half's sensor noise made a PNG 9 KB a cell, this 3 KB, and at
#: this quality no difference shows at the size the strip draws them
JPEG_QUALITY = 92
_FIELD_PX = 176  #: the simulated field around a cell: room for a blast and its margin
_MARGIN_PX = 6


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


# ---------------------------------------------------------------------- built-in, simulated
def _square(labels: np.ndarray, cell_id: int) -> tuple[slice, slice] | None:
    """A square around the cell with a margin, inside the field; None when cut by the edge or
    shared with another white cell (not a clean example)."""
    rows, cols = np.nonzero(labels == cell_id)
    if rows.size == 0:
        return None
    half = max(int(np.ptp(rows)), int(np.ptp(cols))) // 2 + _MARGIN_PX
    rc, cc = (rows.min() + rows.max()) // 2, (cols.min() + cols.max()) // 2
    r0, c0 = rc - half, cc - half
    if r0 < 0 or c0 < 0 or rc + half > labels.shape[0] or cc + half > labels.shape[1]:
        return None
    box = (slice(r0, rc + half), slice(c0, cc + half))
    others = np.unique(labels[box])
    return box if set(others.tolist()) <= {0, cell_id} else None


def _resized(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((CROP_PX, CROP_PX), Image.Resampling.BILINEAR))


class _Renderer:
    """One simulated slide's fields, normalised as the scan normalises them (flat, dark)."""

    def __init__(self, donor: str, seed: int) -> None:
        self.world = SimWorld(
            SimConfig(seed=seed, donor=donor), CameraConfig(width_px=_FIELD_PX, height_px=_FIELD_PX)
        )
        self.rng = np.random.default_rng(seed)
        self.exposure_ms = self.world.suggest_exposure_ms(260)
        bx, by = self.world.blank_position_mm()
        bz = self.world.best_focus_um(bx, by)
        self.flat = self.world.render(bx, by, bz, 260, self.exposure_ms, self.rng).astype(float)
        self.dark = self.world.render(bx, by, bz, None, self.exposure_ms, self.rng).astype(float)

    def cells(self) -> list[CellRecord]:
        cx, cy = self.world.smear_centre_mm()
        return self.world.cells_in_region(cx - 4, cy - 4, cx + 4, cy + 4)

    def crop(self, cell: CellRecord) -> np.ndarray | None:
        """Stained crop beside the 260 nm crop (gray as the gallery scales it), or None."""
        x, y = cell.centroid_mm
        truth = self.world.ground_truth(x, y)
        box = _square(truth.cell_labels, cell.id)
        if box is None:
            return None
        raw = self.world.render(
            x, y, self.world.best_focus_um(x, y), 260, self.exposure_ms, self.rng
        )
        norm = (raw - self.dark) / np.maximum(self.flat - self.dark, 1.0)
        gray = (np.clip(norm[box], 0.0, 1.1) * (255.0 / 1.1)).astype(np.uint8)
        stained = _resized(truth.stained_rgb[box])
        return np.concatenate([stained, np.repeat(_resized(gray)[..., None], 3, axis=2)], axis=1)


def _typical_first(cells: list[CellRecord]) -> list[CellRecord]:
    """Cells ordered by how far their diameter lies from the class's median."""
    median = float(np.median([c.diameter_um for c in cells]))
    return sorted(cells, key=lambda c: (abs(c.diameter_um - median), c.id))


def render_reference_cells(
    per_class: int = PER_CLASS, seed: int = 11
) -> dict[str, list[np.ndarray]]:
    """Typical simulated cells of every class the simulator draws, with their true class:
    a healthy slide first, then the donors that carry the pre-classes."""
    out: dict[str, list[np.ndarray]] = {}
    for donor in ("healthy", *PRECLASS_DONORS):
        renderer = _Renderer(donor, seed)
        groups: dict[str, list[CellRecord]] = {}
        for c in renderer.cells():
            groups.setdefault(DEAD if c.dead else c.kind, []).append(c)
        for cls, cells in sorted(groups.items()):
            have = out.setdefault(cls, [])
            for c in _typical_first(cells):
                if len(have) >= per_class:
                    break
                crop = renderer.crop(c)
                if crop is not None:
                    have.append(crop)
    return {cls: images for cls, images in out.items() if images}


def write_reference_folder(images: dict[str, list[np.ndarray]], root: Path) -> list[Path]:
    """Write references in the lab layout (``root/<class>/<class>_<n>.jpg``); return the files."""
    written = []
    for cls, crops in images.items():
        folder = Path(root) / cls
        folder.mkdir(parents=True, exist_ok=True)
        for n, crop in enumerate(crops):
            path = folder / f"{cls}_{n}.jpg"
            Image.fromarray(crop).save(path, quality=JPEG_QUALITY)
            written.append(path)
    return written
