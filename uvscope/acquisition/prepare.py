"""One wiring of a scan for the CLI and the GUI: rig, folder, sinks and engine.

``prepare_scan`` makes the engine and runs every check first (the folder locked, the plan
inside the soft limits, a resume's plan and rig matched), so a refused scan changes nothing;
only then is the analysis sink built (it loads models and prepares ``DIR/analysis``) and
wired in after the given sinks, and last the stage-mosaic sink (``io.stage_sink``): the
folder's own product, ended by the engine after the analysis has drained. The analysis room
sits above this one, so the caller hands in how to build its sink.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.events import ScanProgress, ScanSummary
from uvscope.acquisition.plan import GridPlan
from uvscope.acquisition.tiles import TileSink
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.errors import ScanError
from uvscope.io.stage_sink import StageMosaicSink

#: builds the analysis sink of a checked scan from (scan, rig, out_dir, plan)
AnalysisFactory = Callable[[ScanConfig, Rig, Path, GridPlan], TileSink]


def prepare_scan(
    rig: Rig,
    scan: ScanConfig,
    out_dir: str | Path,
    *,
    sinks: Sequence[TileSink] = (),
    analysis: AnalysisFactory | None = None,
    resume: bool = False,
    accept_rig_change: str | None = None,
    on_device_error: str = "stop",
) -> ScanEngine:
    """A checked engine holding the folder's lock, its sinks wired: ``sinks``, then the
    analysis sink ``analysis`` builds when ``[analysis] enabled``, then the stage mosaics.
    On any refusal the folder is released (the rig is the caller's to close)."""
    engine = ScanEngine(
        rig,
        scan,
        out_dir,
        sinks=sinks,
        resume=resume,
        on_device_error=on_device_error,
        accept_rig_change=accept_rig_change,
    )
    try:
        engine.check()  # lock and every check first: a refused scan changes nothing
        if scan.analysis.enabled and analysis is not None:
            if engine.plan is None:
                raise ScanError("the scan was checked but has no plan")
            engine.user_sinks.append(analysis(scan, rig, engine.out_dir, engine.plan))
        engine.user_sinks.append(StageMosaicSink())  # opened on the folder at the first tile
    except BaseException:
        engine.release()
        raise
    return engine


def run_scan(
    rig: Rig,
    scan: ScanConfig,
    out_dir: str | Path,
    sinks: Sequence[TileSink] = (),
    resume: bool = False,
    on_progress: Callable[[ScanProgress], None] | None = None,
) -> ScanSummary:
    """Convenience: a scan with its stage mosaics, as `uvscope scan --no-analysis` wires it,
    run to completion in this thread; a refusal is raised by ``run``, as a ScanError."""
    engine = ScanEngine(rig, scan, out_dir, [*sinks, StageMosaicSink()], resume=resume)
    if on_progress is not None:
        engine.events.progress.connect(on_progress)
    return engine.run()
