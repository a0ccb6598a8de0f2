"""Red-cell crops per class on disk: the simulated export and a lab's own labelled crops.

One layout for both, so the same checks and the same own-data rules apply to each::

    DIR/<class>/NAME.tif     one red cell, centred: plane 0 its optical density at 260 nm
                             (float), plane 1 (optional) its mask (non-zero = the cell); without
                             a mask the cell is the absorbing region under the crop's centre
    DIR/groups.csv           optional: name,group (slide or donor): a split keeps a group
                             together (the simulated export: donor and slide seed)
    DIR/dataset.toml         optional: pixel_size_um = 0.32 (else the network's),
                             normal_share = 0.15 (the share of normal cells kept, if fewer
                             were saved than seen; sets the prevalence the network assumes)

``<class>`` is a name of ``uvscope.classes.RBC_CLASSES`` (case and a plural ``s`` ignored); any
other folder is an error naming it, as is a crop that is no image. Crops are resampled to the
network's pixel size and cut (or padded) to its crop size around their centre.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage.transform import rescale

from uvscope.classes import RBC_CLASSES
from uvscope.errors import ModelError
from uvscope.models.arch import OD_SCALE

CROP_EXT = {".tif", ".tiff"}
#: a crop without a mask: its cell is the smoothed OD above this, connected to the centre
#: (the analysis's red-cell threshold, uvscope.analysis.settings.CbcSettings.rbc_od_threshold)
MASK_OD = 0.05


@dataclass
class RbcCrops:
    """x (N, 2, S, S) float32 network inputs, label (index into ``classes``), group per crop."""

    x: np.ndarray
    label: np.ndarray
    group: list[str]
    names: list[str]
    classes: tuple[str, ...] = RBC_CLASSES
    #: the share of the normal cells kept when the crops were chosen (dataset.toml
    #: ``normal_share``; the simulated export keeps 0.15): their prevalence is count / share;
    #: None: the crops' counts say nothing of prevalence (reviewed cells of scans)
    normal_share: float | None = 1.0

    def subset(self, idx: np.ndarray) -> RbcCrops:
        return RbcCrops(
            self.x[idx],
            self.label[idx],
            [self.group[i] for i in idx],
            [self.names[i] for i in idx],
            self.classes,
            self.normal_share,
        )

    def counts(self) -> dict[str, int]:
        n = np.bincount(self.label, minlength=len(self.classes))
        return {c: int(n[i]) for i, c in enumerate(self.classes)}


def rbc_class(folder: str) -> str | None:
    """The RBC_CLASSES name a folder means (case, plural and '_cell' ignored), or None."""
    n = folder.strip().lower().replace("-", "_")
    for suffix in ("_cells", "_cell", "s"):
        if n.endswith(suffix) and n[: -len(suffix)] in RBC_CLASSES:
            n = n[: -len(suffix)]
    return n if n in RBC_CLASSES else None


def _groups(root: Path) -> dict[str, str]:
    f = root / "groups.csv"
    if not f.exists():
        return {}
    with open(f, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["name", "group"]:
        raise ModelError(f"{f} must start with the header name,group")
    return {r[0].strip(): r[1].strip() for r in rows[1:] if len(r) >= 2}


def _toml(root: Path, default_um: float) -> tuple[float, float]:
    """(pixel_size_um, normal_share) from DIR/dataset.toml (defaults: the network's pixel
    size, every normal cell kept)."""
    f = root / "dataset.toml"
    if not f.exists():
        return default_um, 1.0
    try:
        data = tomllib.loads(f.read_text(encoding="utf-8-sig"))
        px = float(data.get("pixel_size_um", default_um))
        share = float(data.get("normal_share", 1.0))
    except (tomllib.TOMLDecodeError, TypeError, ValueError) as err:
        raise ModelError(f"{f}: {err}; write pixel_size_um = 0.32 (um per pixel)") from None
    if not 0.01 <= px <= 5.0:
        raise ModelError(f"{f}: pixel_size_um {px} is not a microscope's pixel size (um)")
    if not 0.0 < share <= 1.0:
        raise ModelError(f"{f}: normal_share {share} must be in (0, 1]")
    return px, share


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(OD, mask) of one crop file; anything else is a ModelError naming the file."""
    try:
        arr = np.asarray(tifffile.imread(path), dtype=np.float32)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"{path} cannot be read as a TIFF crop ({err}); remove it") from None
    if arr.ndim == 2:
        od = arr
        smooth = ndi.gaussian_filter(od, 1.0)
        lab, _ = ndi.label(smooth > MASK_OD)
        centre = lab[lab.shape[0] // 2, lab.shape[1] // 2]
        return od, (lab == centre) if centre else np.zeros(od.shape, bool)
    if arr.ndim == 3 and arr.shape[0] == 2:
        return arr[0], arr[1] != 0
    raise ModelError(
        f"{path} has shape {arr.shape}; a red-cell crop is one OD plane, or OD and mask planes"
    )


def to_input(od: np.ndarray, mask: np.ndarray, scale: float, size: int) -> np.ndarray:
    """One (2, size, size) network input from a crop at another pixel size (``scale`` = its
    pixel size / the network's), centred."""
    if abs(scale - 1.0) > 1e-3:
        od = rescale(od, scale, order=1, anti_aliasing=scale < 1, preserve_range=True)
        mask = rescale(mask.astype(np.float32), scale, order=1, preserve_range=True) >= 0.5
    out = np.zeros((2, size, size), np.float32)
    h, w = od.shape
    r0, c0 = h // 2 - size // 2, w // 2 - size // 2
    a0, b0, a1, b1 = max(r0, 0), max(c0, 0), min(r0 + size, h), min(c0 + size, w)
    out[0, a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = od[a0:a1, b0:b1] / OD_SCALE
    out[1, a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = mask[a0:a1, b0:b1]
    return out


def load_rbc_crops(root: Path, size: int, net_px_um: float) -> RbcCrops:
    """Every crop of ``root`` as network inputs; checked before anything is trained."""
    root = Path(root)
    subs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not subs:
        raise ModelError(
            f"{root} holds no class folders; lay red-cell crops out as DIR/<class>/NAME.tif "
            f"with <class> one of {', '.join(RBC_CLASSES)}"
        )
    px_um, normal_share = _toml(root, net_px_um)
    scale = px_um / net_px_um
    groups = _groups(root)
    xs, labels, group, names = [], [], [], []
    for sub in subs:
        cls = rbc_class(sub.name)
        if cls is None:
            raise ModelError(
                f"folder {sub.name!r} in {root} is not a red-cell class; use one of "
                f"{', '.join(RBC_CLASSES)}"
            )
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() not in CROP_EXT:
                continue
            od, mask = _read(f)
            xs.append(to_input(od, mask, scale, size))
            labels.append(RBC_CLASSES.index(cls))
            group.append(groups.get(f.stem, groups.get(f.name, "")))
            names.append(f"{sub.name}/{f.name}")
    if not xs:
        raise ModelError(f"no .tif crops under {root}/<class>/")
    return RbcCrops(
        np.stack(xs), np.array(labels, np.int64), group, names, normal_share=normal_share
    )
