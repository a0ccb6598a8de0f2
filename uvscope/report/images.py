"""The report's pictures: the mosaic thumbnail and the cell gallery, as embedded PNGs."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from uvscope.analysis.review import ReviewedLabel, class_label
from uvscope.report.facts import LOW_CONFIDENCE_P, cell_confidence


def png_data_uri(img: np.ndarray) -> str:
    """A PNG of a uint8 gray or RGB image as a data: URI."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_u8(gray: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    g = np.asarray(gray, np.float32)
    finite = g[np.isfinite(g)]
    if lo is None or hi is None:
        lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
    span = max(float(hi) - float(lo), 1e-6)
    return (np.clip((np.nan_to_num(g, nan=float(lo)) - lo) / span, 0, 1) * 255 + 0.5).astype(
        np.uint8
    )


def mosaic_html(root: Path, max_side: int = 1000) -> str:
    import tifffile

    path = root / "mosaic_stained.ome.tif"
    if not path.exists():
        path = root / "mosaic_gray.ome.tif"
    if not path.exists():
        return '<p class="muted">No mosaic was written.</p>'
    with tifffile.TiffFile(path) as tif:
        levels = tif.series[0].levels
        lev = next((lv for lv in levels if max(lv.shape[:2]) <= max_side), levels[-1])
        img = lev.asarray()
    if img.ndim == 2:
        img = np.repeat(to_u8(img)[..., None], 3, axis=2)
    outline_path = root / "mosaic_outlines.ome.tif"
    if outline_path.exists():
        with tifffile.TiffFile(outline_path) as tif:
            ol = next((lv for lv in tif.series[0].levels if lv.shape[:2] == img.shape[:2]), None)
            if ol is not None:
                o = ol.asarray()
                m = o.any(axis=2)
                img = img.copy()
                img[m] = o[m]
    return (
        f'<img class="mosaic" alt="mosaic" src="{png_data_uri(img.astype(np.uint8))}">'
        f'<p class="muted">{path.name}, {img.shape[1]} x {img.shape[0]} px thumbnail '
        "with class-coloured outlines.</p>"
    )


class _TileCache:
    """Stained and gray tiles read once each for the crops."""

    def __init__(self, scan_dir: Path, root: Path, wavelength: int) -> None:
        self.scan_dir, self.root, self.wavelength = scan_dir, root, wavelength
        self._cache: dict[tuple[str, int], np.ndarray | None] = {}
        #: tiles whose gray image could not be shown, and why
        self.problems: dict[int, str] = {}

    def get(self, kind: str, tile: int) -> np.ndarray | None:
        from uvscope.io.ome import read_ome_tiff

        key = (kind, tile)
        if key not in self._cache:
            if kind == "stained":
                p = self.root / "stained" / f"tile_{tile:05d}.tif"
                self._cache[key] = read_ome_tiff(p)[0] if p.exists() else None
            else:  # the normalised tile, stored or derived from the raw frame
                self._cache[key] = self._read_gray(tile)
        return self._cache[key]

    def _read_gray(self, tile: int) -> np.ndarray | None:
        """The tile, once the scan check (``uvscope.io.scancheck``) lets it through; else
        None, and why in ``problems`` (the gallery names it)."""
        from uvscope.errors import StorageError
        from uvscope.io.scancheck import background_check, tile_problem
        from uvscope.io.scanfolder import ScanFolder

        folder = ScanFolder(self.scan_dir)
        try:
            rec = folder.tile_records().get(tile)
            bgs = background_check(folder)
            why = "no line in tiles.jsonl" if rec is None else tile_problem(folder, rec, None, bgs)
            if why is None:
                return folder.read_tile(tile, self.wavelength)[0]
        except StorageError as err:
            why = str(err)
        self.problems[tile] = why
        return None


def _crop(img: np.ndarray, r: int, c: int, half: int) -> np.ndarray:
    pad = [(half, half), (half, half)] + [(0, 0)] * (img.ndim - 2)
    return np.pad(img, pad, mode="edge")[r : r + 2 * half, c : c + 2 * half]


def _thumb(tiles: _TileCache, cell: dict[str, str], half: int) -> np.ndarray | None:
    t, r, col = int(cell["tile"]), int(float(cell["row"])), int(float(cell["col"]))
    pics = []
    s = tiles.get("stained", t)
    if s is not None:
        pics.append(_crop(s, r, col, half))
    g = tiles.get("gray", t)
    if g is not None:
        gc = to_u8(_crop(g, r, col, half), 0.0, 1.05)
        pics.append(np.repeat(gc[..., None], 3, axis=2))
    return np.concatenate(pics, axis=1).astype(np.uint8) if pics else None


def _final_class(cell: dict[str, str], reviewed: dict[str, ReviewedLabel] | None) -> str:
    review = (reviewed or {}).get(cell["cell_id"])
    return review.reviewed if review is not None else cell["cell_class"]


def gallery_html(
    scan_dir: Path,
    cells: list[dict[str, str]],
    classes: tuple[str, ...],
    wavelength: int,
    reviewed: dict[str, ReviewedLabel] | None = None,
    per_class: int = 3,
    half: int = 40,
) -> str:
    """Per class as reviewed (a reviewer's class, else the automatic one), the ``per_class``
    least confident cells: the ones worth a second look. Classes only a reviewer gave (a
    blast) follow the listed ones; a cell the reviewer moved says what it was."""
    tiles = _TileCache(scan_dir, scan_dir / "analysis", wavelength)
    final = {c["cell_id"]: _final_class(c, reviewed) for c in cells}
    extra = sorted({k for k in final.values() if k not in classes})
    out = []
    for name in (*classes, *extra):
        members = sorted((c for c in cells if final[c["cell_id"]] == name), key=cell_confidence)
        items = []
        for c in members[:per_class]:
            img = _thumb(tiles, c, half)
            if img is None:
                continue
            p = cell_confidence(c)
            low = ' class="low"' if p < LOW_CONFIDENCE_P else ""
            review = (reviewed or {}).get(c["cell_id"])
            note = f"<br><b>was {html.escape(class_label(c['cell_class']))}</b>" if review else ""
            items.append(
                f'<div class="cell"><img src="{png_data_uri(img)}" alt="{c["cell_id"]}">'
                f"<br><span{low}>p = {p:.2f}</span>{note}</div>"
            )
        body = "".join(items) if items else '<span class="muted">none</span>'
        out.append(
            f'<div class="gclass"><h3>{html.escape(class_label(name))} ({len(members)})</h3>'
            f'<div class="gallery">{body}</div></div>'
        )
    # three columns of classes: the gallery shares the second printed page with the mosaic's
    # neighbours (red cells and platelets), so it may not take a line per class
    return f'<div class="ggrid">{"".join(out)}</div>' + "".join(_problem_lines(tiles.problems))


def _problem_lines(problems: dict[int, str]) -> list[str]:
    """One warning line per distinct reason, naming its tiles (a scan with many damaged tiles
    gets a few lines, not one per tile)."""
    by_why: dict[str, list[int]] = {}
    for tile, why in sorted(problems.items()):
        by_why.setdefault(why, []).append(tile)
    lines = []
    for why, tiles in by_why.items():
        names = ", ".join(str(t) for t in tiles)
        noun = "Tile" if len(tiles) == 1 else "Tiles"
        lines.append(
            f'<p class="warn">{noun} {names}: gray image not shown ({html.escape(why)}).</p>'
        )
    return lines
