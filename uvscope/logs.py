"""Python ``logging`` for uvscope: one logger tree ("uvscope.*"), a terminal level chosen on
the command line, and a log file in each scan folder.

Modules log with ``logging.getLogger(__name__)``; nothing here runs at import time. The
terminal handler goes to stderr so ``--json`` output on stdout stays machine-readable. The
scan folder's ``uvscope.log`` always records INFO and up (DEBUG with ``-vv``), whatever the
terminal shows, so a run can be looked into afterwards.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = "uvscope"
LOG_NAME = "uvscope.log"
LEVELS = ("debug", "info", "warning", "error")
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_HANDLER_TAG = "_uvscope_terminal"


def level_from(verbose: int, log_level: str | None) -> int:
    """``--log-level`` wins; else WARNING, INFO with -v, DEBUG with -vv."""
    if log_level:
        return int(getattr(logging, log_level.upper()))
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record comes (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(level: int) -> logging.Logger:
    """Send "uvscope" records at ``level`` and up to stderr (idempotent)."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(min(level, logging.INFO))  # the scan-folder file keeps INFO
    for h in list(logger.handlers):
        if getattr(h, _HANDLER_TAG, False):
            logger.removeHandler(h)
    handler = _StderrHandler()
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    setattr(handler, _HANDLER_TAG, True)
    logger.addHandler(handler)
    return logger


@contextmanager
def scan_log(folder: str | Path, level: int = logging.INFO) -> Iterator[Path]:
    """Append every "uvscope" record at ``level`` and up to FOLDER/uvscope.log meanwhile."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_NAME
    logger = logging.getLogger(ROOT)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        handler.close()


def log_engine_events(events: Any, logger: logging.Logger | None = None) -> None:
    """Log a ScanEngine's psygnal events (state, log lines, device errors, the summary)."""
    log = logger or logging.getLogger(f"{ROOT}.scan")
    events.state_changed.connect(lambda s: log.info("state: %s", getattr(s, "value", s)))
    events.log.connect(lambda msg: log.info("%s", msg))
    events.device_error.connect(lambda msg: log.error("device error: %s", msg))
    events.finished.connect(
        lambda s: log.info(
            "finished: %s, %s of %s tiles, %.1f s%s",
            s.status,
            s.tiles_done,
            s.tiles_total,
            s.wall_s,
            f" ({s.message})" if s.message else "",
        )
    )


def attach_scan_log(engine: Any, folder: str | Path, level: int = logging.INFO) -> Path:
    """FOLDER/uvscope.log for one engine run: its events and every "uvscope" record, closed
    when the engine reports ``finished`` (one line where a command builds an engine)."""
    cm = scan_log(folder, level)
    path = cm.__enter__()
    log_engine_events(engine.events)
    engine.events.finished.connect(lambda _s: cm.__exit__(None, None, None))
    logging.getLogger(f"{ROOT}.scan").info("scan folder %s", Path(folder).resolve())
    return path
