"""Results are only ever replaced by results at least as complete.

An analysis of fewer tiles than the one in ``DIR/analysis`` (damaged tiles skipped, tiles
that failed) does not replace it unless the user asks (``uvscope analyze --replace``); the
previous analysis stays as it was. Every replacement is logged in ``events.jsonl`` with both
tile counts, so what a folder's results rest on can always be traced.
"""

from __future__ import annotations

import json
from pathlib import Path

from uvscope.errors import StorageError


class ResultsKept(StorageError):
    """The new analysis holds fewer tiles than the previous one, which was kept."""


def previous_tiles(scan_dir: Path) -> int | None:
    """Tiles analysed in ``DIR/analysis`` (None: no analysis; -1: one that cannot be read)."""
    path = scan_dir / "analysis" / "differential.json"
    if not (scan_dir / "analysis").exists():
        return None
    try:
        n = json.loads(path.read_text(encoding="utf-8"))["tiles"]["analysed"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return -1
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else -1


def check_replacement(scan_dir: Path, analysed: int, replace: bool) -> int | None:
    """The previous analysis's tile count; raises ResultsKept when ``analysed`` is fewer and
    ``replace`` was not asked for."""
    previous = previous_tiles(Path(scan_dir))
    if previous is not None and analysed < previous and not replace:
        raise ResultsKept(
            f"{Path(scan_dir) / 'analysis'} holds an analysis of {previous} tiles; this one "
            f"would have {analysed}, so the previous results were kept unchanged. Give "
            "--replace to replace them anyway (logged in events.jsonl)"
        )
    return previous


def log_replacement(
    scan_dir: Path, previous: int | None, analysed: int, skipped: dict[str, str]
) -> None:
    """Record in events.jsonl that the analysis was replaced, with both tile counts."""
    if previous is None:
        return
    from uvscope.io.scanfolder import ScanFolder

    before = "an unreadable analysis" if previous < 0 else f"an analysis of {previous} tiles"
    ScanFolder(scan_dir).log_event(
        "analysis-replaced",
        f"{before} replaced by one of {analysed} tiles"
        + (f" ({len(skipped)} skipped: {', '.join(sorted(skipped))})" if skipped else ""),
        previous_tiles=previous if previous >= 0 else None,
        tiles=analysed,
        skipped=skipped or None,
    )
