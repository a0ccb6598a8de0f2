"""Initial ground-truth masks from pseudocolour tiles (paper 000, section 4.5.1).

The paper made its segmentation ground truth by colour-based segmentation of the 260/280/300 nm
pseudocolour tiles and corrected the masks by hand. Here: in CIE Lab, the background is bright;
WBC nuclei are dark and blue (nucleic acid absorbs at 260 nm); WBC cytoplasm is pale with little
red (a*), red cells are redder (haemoglobin absorbs at all three wavelengths). A cell is the
non-red foreground connected to a nucleus, within a few micrometres of it. The masks are a
starting point for a person to correct (napari, see docs/own-data.md), not ground truth as they
stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.color import rgb2lab
from skimage.morphology import disk


@dataclass(frozen=True)
class ColourThresholds:
    """Lab thresholds of the pseudocolour rendering (uvscope.models.pairs.pseudocolor)."""

    background_l: float = 88.0
    nucleus_l: float = 55.0
    nucleus_b: float = -25.0
    red_cell_a: float = 37.0
    min_nucleus_um2: float = 3.0
    max_cytoplasm_um: float = 6.0


def colour_masks(
    rgb: np.ndarray, pixel_size_um: float, t: ColourThresholds | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(cell labels int32, nucleus bool) of the WBCs in a uint8 RGB pseudocolour tile."""
    t = t or ColourThresholds()
    lab = rgb2lab(np.asarray(rgb, np.float32)[..., :3] / 255.0)
    lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    fg = lum < t.background_l
    nuc = fg & (lum < t.nucleus_l) & (b < t.nucleus_b)
    r = max(1, int(round(0.3 / pixel_size_um)))
    nuc = ndimage.binary_opening(nuc, disk(r))
    nuc = ndimage.binary_fill_holes(nuc)
    nuc = _drop_small(nuc, t.min_nucleus_um2 / pixel_size_um**2)
    near = ndimage.distance_transform_edt(~nuc) * pixel_size_um <= t.max_cytoplasm_um
    cand = ndimage.binary_opening((fg & (a < t.red_cell_a) & near) | nuc, disk(r))
    comp, _ = ndimage.label(cand)
    keep = np.unique(comp[nuc])
    cell = np.isin(comp, keep[keep > 0])
    cell = ndimage.binary_fill_holes(cell)
    labels, _ = ndimage.label(cell)
    return labels.astype(np.int32), nuc & cell


def _drop_small(mask: np.ndarray, min_px: float) -> np.ndarray:
    comp, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    kept: np.ndarray = sizes[comp] >= min_px
    return kept


GT_README = """Initial masks from the pseudocolour tiles (uvscope pseudocolor --ground-truth).
They are a colour-threshold guess: correct them before training.

napari (pip install "napari[all]"), one tile at a time:
    napari images/NAME.tif masks/NAME.png
    (right-click the mask layer > Convert to labels; paint 128 = cytoplasm, 255 = nucleus,
    0 = background; File > Save Selected Layer(s) back to masks/NAME.png)
Then train and check:
    uvscope train segment --data THIS_FOLDER --out runs
    uvscope evaluate segment --data THIS_FOLDER --weights runs/segment.safetensors
"""


def write_ground_truth(
    out: Path, name: str, gray: np.ndarray, rgb: np.ndarray, pixel_size_um: float
) -> np.ndarray:
    """Add one tile to an own-data folder: images/NAME.tif (the normalised 260 nm tile),
    masks/NAME.png (class-coded), dataset.toml and a README on correcting the masks."""
    import tifffile
    from PIL import Image

    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    cells, nuc = colour_masks(rgb, pixel_size_um)
    mask = class_coded(cells, nuc)
    tifffile.imwrite(out / "images" / f"{name}.tif", np.asarray(gray, np.float32))
    Image.fromarray(mask).save(out / "masks" / f"{name}.png")
    toml = out / "dataset.toml"
    if not toml.exists():
        toml.write_text(f'pixel_size_um = {pixel_size_um}\nmodality = "uv260"\n')
        (out / "README.txt").write_text(GT_README)
    return mask


def class_coded(cells: np.ndarray, nucleus: np.ndarray) -> np.ndarray:
    """The own-data mask: 0 background, 128 cytoplasm, 255 nucleus (uint8)."""
    return np.where(nucleus & (cells > 0), 255, np.where(cells > 0, 128, 0)).astype(np.uint8)
