"""Progress of a scan's end products (mosaics, report): one event surface, no Qt.

The end of a scan happens in the engine's and the analysis' threads, far from the CLI and the
GUI; every step reports here as (scan folder, what, done, total) and each front end listens:
``uvscope scan`` and ``uvscope analyze`` draw rich progress bars, the GUI relays the signal to
its thread. Steps that are given an explicit progress function (``uvscope analyze`` on Dask
workers) report through that instead.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from psygnal import Signal

from uvscope.io.mosaic_pyramid import ProgressFn


class EndProductEvents:
    """``step(scan_dir, what, done, total)``: an end-of-scan step advanced (rows of a mosaic,
    the report: ``done == total`` when it is complete)."""

    step = Signal(str, str, int, int)


#: the one instance every room reports to
end_products = EndProductEvents()


def end_products_reporter(scan_dir: str | Path) -> ProgressFn:
    """A progress function reporting one scan folder's steps on ``end_products``."""
    key = str(scan_dir)

    def report(what: str, done: int, total: int) -> None:
        # progress is for the eyes: a listener that fails (a closed window) never fails a scan
        with contextlib.suppress(Exception):
            end_products.step.emit(key, what, done, total)

    return report
