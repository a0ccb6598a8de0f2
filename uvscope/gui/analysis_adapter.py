"""Display views (``gui.results``) of the analysis's own result types.

The analysis emits its ``TileResult`` (with ``CellRecord`` cells) and its ``Differential``;
these functions make the views the widgets draw. The analysis types are imported for type
checking only: the pipeline (and torch behind it) is not loaded with the window.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from uvscope.gui.results import DEAD, DisplayCell, DisplayDifferential, DisplayTile, cell_box

if TYPE_CHECKING:
    from uvscope.analysis.cells import CellRecord
    from uvscope.analysis.differential import Differential
    from uvscope.analysis.pipeline import TileResult

#: names of the analysis worker's psygnal signals the GUI relays
ANALYSIS_SIGNALS: tuple[str, ...] = ("tile_analysed", "differential_changed", "error")


def analysis_signals(sink: Any) -> dict[str, Any]:
    """The relayable signals of an analysis sink: an ``events`` group, signal attributes, or
    those of its ``worker`` (the pipeline's AnalysisSession wraps an AnalysisWorker)."""
    events = getattr(sink, "events", None)
    if events is not None:
        return {name: events[name] for name in events}
    source = sink if hasattr(sink, "tile_analysed") else getattr(sink, "worker", None)
    if source is None or not hasattr(source, "tile_analysed"):
        raise TypeError(f"{type(sink).__name__} has no tile_analysed signal to show results")
    return {name: getattr(source, name) for name in ANALYSIS_SIGNALS if hasattr(source, name)}


def snapshot(res: Any) -> Any:
    """Keep a result's arrays: the worker drops them from its own object after emitting."""
    return res if isinstance(res, DisplayTile) else copy.copy(res)


def preload_analysis() -> bool:
    """Import the analysis pipeline and the networks (torch) now, before the window runs.

    Importing torch initialises C extensions that hold the GIL for up to ~0.2 s at a time;
    done in a worker thread at the start of a scan, that froze the window (measured 200 ms
    stalls). Importing before the event loop starts costs start-up time instead. False when
    the analysis or the model package is not installed (scans then run without analysis).
    """
    try:
        import uvscope.analysis.session  # noqa: F401
        import uvscope.models.predict  # noqa: F401
    except ImportError:
        return False
    return True


def session_factory(scan: Any, rig: Any, out_dir: Any, plan: Any) -> Any:
    """The analysis sink ``uvscope scan --analysis`` uses, given the plan so its worker and
    signals exist before the first tile; the models are checked against the rig's pixel size
    and the scan's modality as the CLI checks them."""
    from uvscope.analysis.session import session_for_scan
    from uvscope.report.page import write_report

    px = getattr(rig, "pixel_size_um", None)
    return session_for_scan(
        scan, out_dir, plan=list(plan.tiles), pixel_size_um=px, report=write_report
    )


def display_cell(cell: CellRecord, boxes: Sequence[tuple[slice, slice] | None]) -> DisplayCell:
    """The gallery's view of one cell; ``boxes``: ``find_objects`` of its tile's labels."""
    bbox = cell_box(boxes, int(cell.label), float(cell.row), float(cell.col))
    probs = {k[2:]: float(v) for k, v in vars(cell).items() if k.startswith("p_")}
    return DisplayCell(
        str(cell.cell_id),
        int(cell.tile),
        DEAD if cell.dead else cell.cell_class,
        probs,
        float(cell.x_um),
        float(cell.y_um),
        bbox,
        int(cell.label),
    )


def display_tile(res: TileResult | DisplayTile) -> DisplayTile | None:
    """The view of the analysis's TileResult (its counted cells only: a duplicate from the
    overlap is counted in its neighbour); None for a failed tile or one without labels."""
    if isinstance(res, DisplayTile):
        return res
    if getattr(res, "failed", False) or res.labels is None:
        return None
    labels = np.asarray(res.labels)
    if res.stained is not None:
        stained = np.asarray(res.stained, dtype=np.uint8)
    else:  # no stainer: the gray tile stands in
        g = np.asarray(res.gray) if res.gray is not None else np.zeros(labels.shape, np.float32)
        g8 = (np.clip(g, 0, 1.1) * (255 / 1.1)).astype(np.uint8)
        stained = np.repeat(g8[..., None], 3, axis=2)
    boxes = ndimage.find_objects(labels)
    cells = [display_cell(c, boxes) for c in res.cells if getattr(c, "counted", True)]
    return DisplayTile(int(res.index), stained, labels, cells)


def to_differential(d: Differential | DisplayDifferential) -> DisplayDifferential:
    """The table's view of the analysis's Differential (its five parts and the pre-classes
    counted in the 100 %)."""
    if isinstance(d, DisplayDifferential):
        return d
    return DisplayDifferential.from_rows(d.classes, getattr(d, "preclasses", ()), d.dead)
