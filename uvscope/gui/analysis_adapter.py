"""Adapt the analysis pipeline's objects to the small result shapes the widgets show.

Duck-typed on purpose: the GUI reads a few attributes of ``uvscope.analysis`` results
(TileResult, CellRecord, Differential) and never imports the pipeline at module load.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from scipy import ndimage

from uvscope.gui.results import DEAD, CellRow, Differential, TileResult, cell_box

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
    return res if isinstance(res, TileResult) else copy.copy(res)


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


def to_tile_result(res: Any) -> TileResult | None:
    """A GUI TileResult from the pipeline's; None for a failed tile or one without labels."""
    if isinstance(res, TileResult):
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
    cells = []
    for c in res.cells:
        if not getattr(c, "counted", True):
            continue  # a duplicate from the overlap, counted in its neighbour
        bbox = cell_box(boxes, int(c.label), float(c.row), float(c.col))
        probs = {k[2:]: float(v) for k, v in vars(c).items() if k.startswith("p_")}
        cls = DEAD if c.dead else c.cell_class
        cells.append(
            CellRow(
                str(c.cell_id),
                int(c.tile),
                cls,
                probs,
                float(c.x_um),
                float(c.y_um),
                bbox,
                int(c.label),
            )
        )
    return TileResult(int(res.index), stained, labels, cells)


def to_differential(d: Any) -> Differential:
    if isinstance(d, Differential):
        return d
    rows = list(d.classes)
    return Differential(
        counts={r.name: int(r.count) for r in rows},
        percentages={r.name: float(r.percent) for r in rows},
        ci95={r.name: (float(r.ci_low_percent), float(r.ci_high_percent)) for r in rows},
        dead=int(d.dead),
        preclasses={r.name: int(r.count) for r in getattr(d, "preclasses", ()) if r.count},
    )
