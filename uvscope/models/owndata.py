"""A lab's own labelled images with masks: layout, validation, loading at the model's pixel size.

Layouts (file names match by stem; ``NAME.png`` image, ``NAME.png`` mask)::

    DIR/images/NAME.{png,tif,tiff,jpg,jpeg,bmp}
    DIR/masks/NAME.{png,tif,tiff,bmp}      one class-coded mask: 0 background, 128 cytoplasm,
                                           255 nucleus (or 0/1/2); the cell is cytoplasm + nucleus
      or
    DIR/cells/NAME.* + DIR/nuclei/NAME.*   binary masks or label images (cell ids in cells/)
    DIR/classes.csv    optional: name,class (one row per image) or name,cell,class (per cell id)
    DIR/groups.csv     optional: name,group (slide or donor): splits keep a group together
    DIR/dataset.toml   optional: pixel_size_um = 0.16, modality = "uv260" | "rgb-stained"

Everything is checked by ``open_own_data`` before any output is created, so a wrong layout
stops a run in a second with one message naming the file and the fix. Colour images become
the segmenter's one gray channel by the ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), the
conversion the model card records; images are resampled to the model's pixel size by any ratio
(anti-aliased), masks become coverage fractions on the same grid.
"""

from __future__ import annotations

import csv
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from scipy import ndimage
from skimage.transform import resize

from uvscope.errors import ModelError
from uvscope.models.arch import CLASS_NAMES
from uvscope.models.maskcheck import MaskGeometry, check_codes, mask_geometry, median_diameter_um
from uvscope.models.preprocess import composite_crop, contrast_stretch
from uvscope.models.userdata import IMAGE_EXT, class_index

MODALITIES = ("uv260", "rgb-stained")
MASK_EXT = {".png", ".tif", ".tiff", ".bmp"}
GRAY_CONVERSION = "ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B (colour images)"
TOML_KEYS = {"pixel_size_um", "modality", "name", "description"}
#: the smallest image side, in model pixels, worth a segmentation network's input
MIN_SIDE_MODEL_PX = 16


@dataclass(frozen=True)
class OwnItem:
    """One image and its mask file(s); ``label``: class index, -1 dead, None unlabelled."""

    name: str
    image: Path
    masks: tuple[Path, ...]
    shape: tuple[int, int]
    group: str
    label: int | None = None


@dataclass
class OwnDataset:
    """A validated own-data folder (nothing but headers and masks read yet)."""

    root: Path
    layout: str  # "class-mask" or "cells-nuclei"
    items: list[OwnItem]
    pixel_size_um: float
    modality: str
    channels: int
    groups_given: bool
    cell_labels: dict[tuple[str, int], int] = field(default_factory=dict)
    #: the median cell's equivalent diameter at ``pixel_size_um`` (None: no cell in any mask)
    median_cell_diameter_um: float | None = None

    def summary(self) -> dict[str, object]:
        """What a model card says about its training data."""
        counts: dict[str, int] = {}
        for it in self.items:
            if it.label is not None:
                name = "dead" if it.label < 0 else CLASS_NAMES[it.label]
                counts[name] = counts.get(name, 0) + 1
        for lab in self.cell_labels.values():
            name = "dead" if lab < 0 else CLASS_NAMES[lab]
            counts[name] = counts.get(name, 0) + 1
        sides = [s for it in self.items for s in it.shape]
        return {
            "path": str(self.root),
            "kind": f"own images with masks ({self.layout})",
            "n_images": len(self.items),
            "image_sides_px": [min(sides), max(sides)],
            "pixel_size_um": self.pixel_size_um,
            "modality": self.modality,
            "image_channels": self.channels,
            "gray_conversion": GRAY_CONVERSION if self.channels == 3 else "none (gray images)",
            "groups": len({it.group for it in self.items}) if self.groups_given else None,
            "class_counts": counts,
            "median_cell_diameter_um": (
                None
                if self.median_cell_diameter_um is None
                else round(self.median_cell_diameter_um, 2)
            ),
        }


def is_own_data(path: Path) -> bool:
    """A folder with images/ (and masks/ or cells/ + nuclei/) rather than a simulated dataset."""
    return (Path(path) / "images").is_dir()


def _err(msg: str) -> ModelError:
    return ModelError(msg)


def read_toml(root: Path) -> dict[str, object]:
    f = root / "dataset.toml"
    if not f.exists():
        return {}
    try:
        data = tomllib.loads(f.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as err:
        raise _err(f"{f} is not valid TOML ({err}); fix the line it names") from err
    except UnicodeDecodeError:
        raise _err(f"{f} is not UTF-8 text; save it as UTF-8 TOML") from None
    except OSError as err:
        raise _err(f"{f} cannot be read ({err.strerror or err})") from None
    bad = sorted(set(data) - TOML_KEYS)
    if bad:
        raise _err(f"{f}: unknown keys {bad}; allowed are {sorted(TOML_KEYS)}")
    return data


def dataset_pixel_and_modality(
    root: Path, pixel_size_um: float | None, modality: str | None, default_modality: str
) -> tuple[float, str]:
    """The pixel size (command line over dataset.toml) and modality; missing size is an error."""
    meta = read_toml(root)
    px = pixel_size_um if pixel_size_um is not None else meta.get("pixel_size_um")
    if px is None:
        raise _err(
            f"{root} does not say its pixel size: write pixel_size_um = <um per pixel> in "
            f"{root / 'dataset.toml'} or pass --pixel-size-um"
        )
    if not isinstance(px, (int, float)) or isinstance(px, bool) or not 0.005 <= px <= 50:
        raise _err(f"pixel size {px!r} of {root} must be a number of um per pixel (0.005 to 50)")
    mod = modality or meta.get("modality") or default_modality
    if mod not in MODALITIES:
        raise _err(
            f"modality {mod!r} of {root} is unknown; use one of {list(MODALITIES)} "
            f"(dataset.toml modality = ..., or --modality)"
        )
    return float(px), str(mod)


def _files(folder: Path, exts: set[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        if f.name.startswith(".") or not f.is_file() or f.suffix.lower() not in exts:
            continue
        if f.stem in out:
            raise _err(
                f"{folder} holds two files named {f.stem!r} ({out[f.stem].name}, {f.name}); "
                "keep one"
            )
        out[f.stem] = f
    return out


def read_any(path: Path) -> np.ndarray:
    """Pixels as stored: (H,W) or (H,W,C) (TIFF channel-first is moved last)."""
    try:
        if path.suffix.lower() in {".tif", ".tiff"}:
            arr = np.asarray(tifffile.imread(path))
            if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
                arr = np.moveaxis(arr, 0, -1)
            return arr
        with Image.open(path) as im:
            if im.mode in ("P", "CMYK", "YCbCr", "LA", "RGBA"):
                return np.asarray(im.convert("RGB") if im.mode != "LA" else im.convert("L"))
            return np.asarray(im)
    except (OSError, ValueError) as err:
        raise _err(f"{path} cannot be read as an image ({err}); re-save it as PNG or TIFF") from err


def _image_shape(path: Path) -> tuple[tuple[int, int], int]:
    """(H, W) and channel count without decoding more than needed."""
    if path.suffix.lower() in {".tif", ".tiff"}:
        arr = read_any(path)
        return (int(arr.shape[0]), int(arr.shape[1])), 1 if arr.ndim == 2 else int(arr.shape[2])
    try:
        with Image.open(path) as im:
            w, h = im.size
            ch = 1 if im.mode in ("L", "I", "I;16", "F", "1", "LA") else 3
            return (h, w), ch
    except OSError as err:
        raise _err(f"{path} cannot be read as an image ({err}); re-save it as PNG or TIFF") from err


def _check_class_mask(path: Path, mask: np.ndarray) -> None:
    vals = set(np.unique(mask).tolist())
    if not (vals <= {0, 128, 255} or vals <= {0, 1, 2}):
        raise _err(
            f"{path} holds values {sorted(vals)[:8]}; a class-coded mask holds only 0 "
            "(background), 128 (cytoplasm), 255 (nucleus), or 0/1/2. Save it losslessly (PNG) "
            "without anti-aliasing, or use cells/ + nuclei/ label images"
        )


def _find_masks(root: Path) -> tuple[str, list[Path]]:
    if (root / "masks").is_dir():
        return "class-mask", [root / "masks"]
    if (root / "cells").is_dir() and (root / "nuclei").is_dir():
        return "cells-nuclei", [root / "cells", root / "nuclei"]
    raise _err(
        f"{root} has images/ but no masks: add masks/NAME.png (class-coded 0/128/255) or "
        "cells/NAME + nuclei/NAME beside images/"
    )


def _read_csv(path: Path, need: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except UnicodeDecodeError:
        raise _err(f"{path} is not UTF-8 text; save it as a UTF-8 CSV file") from None
    except csv.Error as err:
        raise _err(f"{path} is not a readable CSV file ({err})") from None
    except OSError as err:
        raise _err(f"{path} cannot be read ({err.strerror or err})") from None
    cols = set(rows[0]) if rows else set()
    if not rows or not set(need) <= cols:
        raise _err(f"{path} needs a header with columns {list(need)} and one row per entry")
    return rows


def _read_groups(root: Path, names: set[str]) -> dict[str, str] | None:
    f = root / "groups.csv"
    if not f.exists():
        return None
    groups: dict[str, str] = {}
    for i, row in enumerate(_read_csv(f, ("name", "group")), start=2):
        name = Path(row["name"].strip()).stem
        if name not in names:
            raise _err(f"{f} line {i}: {name!r} is not an image in {root / 'images'}")
        groups[name] = row["group"].strip()
    missing = sorted(names - set(groups))
    if missing:
        raise _err(f"{f} gives no group for {missing[:5]}; add a row name,group for each image")
    return groups


def _parse_class(f: Path, line: int, raw: str) -> int:
    idx = class_index(raw)
    if idx is None:
        raise _err(f"{f} line {line}: class {raw!r} is not one of {list(CLASS_NAMES)} or 'dead'")
    return idx


def _read_classes(root: Path, names: set[str]) -> tuple[dict[str, int], dict[tuple[str, int], int]]:
    f = root / "classes.csv"
    per_image: dict[str, int] = {}
    per_cell: dict[tuple[str, int], int] = {}
    if not f.exists():
        return per_image, per_cell
    for i, row in enumerate(_read_csv(f, ("name", "class")), start=2):
        name = Path(row["name"].strip()).stem
        if name not in names:
            raise _err(f"{f} line {i}: {name!r} is not an image in {root / 'images'}")
        lab = _parse_class(f, i, row["class"])
        cell = (row.get("cell") or "").strip()
        if cell:
            if not cell.isdigit() or int(cell) <= 0:
                raise _err(f"{f} line {i}: cell {cell!r} must be a positive label id in cells/")
            per_cell[(name, int(cell))] = lab
        elif name in per_image:
            raise _err(f"{f} line {i}: {name!r} is listed twice; keep one class per image")
        else:
            per_image[name] = lab
    return per_image, per_cell


def _check_mask_files(
    layout: str, img: Path, masks: tuple[Path, ...], shape: tuple[int, int]
) -> list[np.ndarray]:
    """The masks of one image, checked (channels, size, values), as read."""
    arrays = []
    for m in masks:
        arr = read_any(m)
        if arr.ndim != 2:
            raise _err(f"{m} has {arr.shape[2]} channels; a mask must be one 8/16-bit channel")
        if tuple(arr.shape) != shape:
            raise _err(
                f"{m} is {arr.shape[1]} x {arr.shape[0]} px but {img} is {shape[1]} x "
                f"{shape[0]}; a mask must match its image pixel for pixel"
            )
        if layout == "class-mask":
            _check_class_mask(m, arr)
        elif not np.issubdtype(arr.dtype, np.integer) and not arr.dtype == bool:
            raise _err(f"{m} is {arr.dtype}; save cells/ and nuclei/ as integer label images")
        arrays.append(arr)
    return arrays


def open_own_data(
    root: str | Path,
    pixel_size_um: float | None = None,
    model_pixel_size_um: float | None = None,
    modality: str | None = None,
) -> OwnDataset:
    """Validate the whole folder (layout, names, masks, sizes, CSVs) and index it."""
    root = Path(root)
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise _err(f"{root} has no images/ folder; put the images in {img_dir}")
    layout, mask_dirs = _find_masks(root)
    images = _files(img_dir, IMAGE_EXT)
    if not images:
        raise _err(f"{img_dir} holds no images ({', '.join(sorted(IMAGE_EXT))})")
    mask_files = [_files(d, MASK_EXT | {".jpg", ".jpeg"}) for d in mask_dirs]
    for d, files in zip(mask_dirs, mask_files, strict=True):
        missing = sorted(set(images) - set(files))
        if missing:
            raise _err(
                f"{len(missing)} images have no mask in {d} (first: {missing[:3]}); add "
                f"{d.name}/NAME.png for each, or remove the image"
            )
        orphans = sorted(set(files) - set(images))
        if orphans:
            raise _err(f"{d} holds masks without images: {orphans[:3]}; remove or rename them")
        lossy = [f.name for f in files.values() if f.suffix.lower() in {".jpg", ".jpeg"}]
        if lossy:
            raise _err(f"{d}/{lossy[0]} is JPEG (lossy, blurs mask values); save masks as PNG")
    default_mod = "rgb-stained"
    px, mod = dataset_pixel_and_modality(root, pixel_size_um, modality, default_mod)
    groups = _read_groups(root, set(images))
    per_image, per_cell = _read_classes(root, set(images))
    items: list[OwnItem] = []
    channels: set[int] = set()
    geometry: list[MaskGeometry] = []
    for name, img in images.items():
        shape, ch = _image_shape(img)
        channels.add(ch)
        if model_pixel_size_um is not None:
            side = min(shape) * px / model_pixel_size_um
            if side < MIN_SIDE_MODEL_PX:
                raise _err(
                    f"{img} is {shape[1]} x {shape[0]} px at {px} um/px: {side:.0f} px at the "
                    f"model's {model_pixel_size_um} um/px, below the {MIN_SIDE_MODEL_PX} px the "
                    "network can take; use larger fields or a model with a finer pixel size"
                )
        masks = tuple(files[name] for files in mask_files)
        geometry.append(mask_geometry(layout, _check_mask_files(layout, img, masks, shape)))
        items.append(
            OwnItem(name, img, masks, shape, (groups or {}).get(name, name), per_image.get(name))
        )
    if len(channels) > 1:
        raise _err(f"{img_dir} mixes gray and colour images; convert them all to one kind")
    if per_cell and layout != "cells-nuclei":
        raise _err(
            f"{root / 'classes.csv'} names cell ids, which need cells/ label images; give one "
            "class per image (name,class) with masks/"
        )
    check_codes(mask_dirs[0] if layout == "class-mask" else root, layout, geometry)
    ds = OwnDataset(root, layout, items, px, mod, channels.pop(), groups is not None, per_cell)
    ds.median_cell_diameter_um = median_diameter_um(geometry, px)
    return ds


# ------------------------------------------------------------------ loading


@dataclass
class OwnSample:
    """One image at the model's pixel size: gray contrast-stretched 0..1, coverage masks, labels."""

    name: str
    gray: np.ndarray
    cell: np.ndarray
    nucleus: np.ndarray
    cell_labels: np.ndarray
    nucleus_mask: np.ndarray
    rgb: np.ndarray | None
    group: str


def to_gray(img: np.ndarray) -> np.ndarray:
    """float32 gray 0..1 (integer images scaled by their type's range), luma for colour."""
    arr = np.asarray(img)
    peak = float(np.iinfo(arr.dtype).max) if np.issubdtype(arr.dtype, np.integer) else 1.0
    f = arr.astype(np.float32) / peak
    if f.ndim == 3:
        f = f[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return f


def _model_shape(shape: tuple[int, int], ratio: float) -> tuple[int, int]:
    return max(1, int(round(shape[0] * ratio))), max(1, int(round(shape[1] * ratio)))


def _rescale(a: np.ndarray, shape: tuple[int, int], order: int = 1) -> np.ndarray:
    if a.shape[:2] == shape:
        return a
    down = shape[0] < a.shape[0]
    out: np.ndarray = resize(
        a,
        shape + a.shape[2:],
        order=order,
        mode="reflect",
        anti_aliasing=down and order > 0,
        preserve_range=True,
    )
    return out


def item_masks(ds: OwnDataset, it: OwnItem) -> tuple[np.ndarray, np.ndarray]:
    """(cell label image int32, nucleus bool) at the data's pixel size."""
    if ds.layout == "class-mask":
        m = read_any(it.masks[0])
        top = 255 if m.max() > 2 else 2
        cell = m > 0
        labels, _ = ndimage.label(cell)
        return labels.astype(np.int32), m == top
    cells = read_any(it.masks[0])
    nuc = read_any(it.masks[1]) > 0
    labels = cells.astype(np.int32)
    if labels.max() == 1 or cells.dtype == bool:  # binary: number the connected cells
        labels, _ = ndimage.label(labels > 0)
    return labels.astype(np.int32), nuc


def load_sample(ds: OwnDataset, it: OwnItem, model_px: float) -> OwnSample:
    """Read one image and its masks and resample them to ``model_px`` (any ratio)."""
    raw = read_any(it.image)
    labels, nuc = item_masks(ds, it)
    shape = _model_shape(it.shape, ds.pixel_size_um / model_px)
    gray = contrast_stretch(_rescale(to_gray(raw), shape))
    cell_cov = _rescale((labels > 0).astype(np.float32), shape).astype(np.float32)
    nuc_cov = _rescale(nuc.astype(np.float32), shape).astype(np.float32)
    lab_m = _rescale(labels, shape, order=0).astype(np.int32)
    rgb = np.clip(_rescale(_unit_rgb(raw), shape), 0, 1) if raw.ndim == 3 else None
    return OwnSample(it.name, gray, cell_cov, nuc_cov, lab_m, nuc_cov >= 0.5, rgb, it.group)


def load_samples(ds: OwnDataset, names: list[str] | None, model_px: float) -> list[OwnSample]:
    keep = set(names) if names is not None else None
    return [load_sample(ds, it, model_px) for it in ds.items if keep is None or it.name in keep]


# ------------------------------------------------------------------ classifier inputs


def _cell_ids(ds: OwnDataset, it: OwnItem, s: OwnSample) -> list[tuple[int, int]]:
    """(cell id, class) pairs to crop from one sample: per-cell rows, else the image's class
    on its largest cell (the labelled cell of a one-cell field)."""
    pairs = [(cid, lab) for (n, cid), lab in ds.cell_labels.items() if n == it.name]
    if pairs or it.label is None:
        return pairs
    ids, counts = np.unique(s.cell_labels[s.cell_labels > 0], return_counts=True)
    return [(int(ids[np.argmax(counts)]), it.label)] if len(ids) else []


def composite_crops(
    ds: OwnDataset, names: list[str] | None, model_px: float, crop_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The paper's composite crops of every labelled cell, cut as the analysis cuts them
    (the cell's own masks, centred on it, at the classifier's pixel size)."""
    xs, labels, dead, names_out = [], [], [], []
    keep = set(names) if names is not None else None
    for it in ds.items:
        if keep is not None and it.name not in keep:
            continue
        s = load_sample(ds, it, model_px)
        for cid, lab in _cell_ids(ds, it, s):
            m = s.cell_labels == cid
            if not m.any():
                continue
            rr, cc = np.nonzero(m)
            xs.append(
                composite_crop(s.gray, m, m & s.nucleus_mask, (rr.mean(), cc.mean()), crop_size)
            )
            labels.append(lab)
            dead.append(int(lab < 0))
            names_out.append(it.name)
    if not xs:
        raise _err(
            f"{ds.root} has no labelled cells to crop: add classes.csv (name,class) and make "
            "sure every listed image's mask holds a cell"
        )
    return np.stack(xs), np.array(labels), np.array(dead), names_out


#: side of a colour crop cut around a masked cell, in cell diameters: about what a crop
#: folder's tight crops hold, so crops cut from masks and crop folders look alike
RGB_CROP_CELL_DIAMETERS = 1.3


def cell_square(labels: np.ndarray, cid: int) -> tuple[int, int, int] | None:
    """(centre row, centre col, side) of the square crop around cell ``cid``."""
    rr, cc = np.nonzero(labels == cid)
    if rr.size == 0:
        return None
    side = RGB_CROP_CELL_DIAMETERS * 2.0 * math.sqrt(rr.size / math.pi)
    return int(round(rr.mean())), int(round(cc.mean())), max(4, int(round(side)))


def rgb_crops(
    ds: OwnDataset, names: list[str] | None, crop_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Colour crops of the labelled cells: a square of RGB_CROP_CELL_DIAMETERS around each
    cell (edge-padded), resized to the crop size as a crop folder's images are (for
    classifiers trained on crop folders: the same input, so scores compare across sources)."""
    from uvscope.models.userdata import _resize

    xs, labels, names_out = [], [], []
    keep = set(names) if names is not None else None
    for it in ds.items:
        if keep is not None and it.name not in keep:
            continue
        raw = read_any(it.image)
        rgb = to_gray(raw)[..., None].repeat(3, -1) if raw.ndim == 2 else _unit_rgb(raw)
        cells, _ = item_masks(ds, it)
        ids, counts = np.unique(cells[cells > 0], return_counts=True)
        pairs = [(cid, lab) for (n, cid), lab in ds.cell_labels.items() if n == it.name]
        if not pairs and it.label is not None and len(ids):
            pairs = [(int(ids[np.argmax(counts)]), it.label)]
        for cid, lab in pairs:
            sq = cell_square(cells, cid)
            if sq is None:
                continue
            r, c, side = sq
            pad = side
            padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
            r0, c0 = r + pad - side // 2, c + pad - side // 2
            xs.append(_resize(padded[r0 : r0 + side, c0 : c0 + side], crop_size))
            labels.append(lab)
            names_out.append(it.name)
    if not xs:
        raise _err(f"{ds.root} has no labelled cells (classes.csv) with masks to crop")
    lab_arr = np.array(labels)
    return np.stack(xs), lab_arr, (lab_arr < 0).astype(int), names_out


def _unit_rgb(raw: np.ndarray) -> np.ndarray:
    peak = float(np.iinfo(raw.dtype).max) if np.issubdtype(raw.dtype, np.integer) else 1.0
    return (raw[..., :3].astype(np.float32) / peak).astype(np.float32)


# ------------------------------------------------------------------ splits


def group_folds(ds: OwnDataset, k: int, seed: int = 0) -> list[list[str]]:
    """k lists of image names: whole groups per fold when groups.csv exists, else a k-fold
    stratified by class (images without a class count as one class)."""
    from uvscope.models.metrics import stratified_kfold

    names = [it.name for it in ds.items]
    if ds.groups_given:
        groups = sorted({it.group for it in ds.items})
        if len(groups) < k:
            raise _err(
                f"{ds.root / 'groups.csv'} has {len(groups)} groups; a {k}-fold split by group "
                f"needs at least {k} (use --folds {max(2, len(groups))})"
            )
        rng = np.random.default_rng(seed)
        order = [groups[i] for i in rng.permutation(len(groups))]
        fold_of = {g: i % k for i, g in enumerate(order)}
        return [[it.name for it in ds.items if fold_of[it.group] == f] for f in range(k)]
    if len(names) < k:
        raise _err(f"{ds.root} has {len(names)} images; a {k}-fold split needs at least {k}")
    y = np.array([it.label if it.label is not None else 99 for it in ds.items])
    return [[names[i] for i in test] for _, test in stratified_kfold(y, k=k, seed=seed)]


def split_names(ds: OwnDataset, k: int, fold: int, seed: int = 0) -> dict[str, list[str]]:
    """Fold ``fold`` is the test set, the next one validation, the rest training."""
    if not 0 <= fold < k:
        raise _err(f"--fold {fold} is outside 0..{k - 1} for --folds {k}")
    folds = group_folds(ds, k, seed)
    test, val = folds[fold], folds[(fold + 1) % k]
    train = [n for i, f in enumerate(folds) if i not in (fold, (fold + 1) % k) for n in f]
    if not train or not val or not test:
        raise _err(f"{ds.root}: the {k}-fold split leaves an empty part; add images or groups")
    return {"train": train, "val": val, "test": test}


def scale_ratio(ds: OwnDataset, model_px: float) -> float:
    """Data pixels per model pixel (1 / the resampling zoom)."""
    return model_px / ds.pixel_size_um if ds.pixel_size_um else math.nan
