"""Results are only ever replaced by results at least as complete.

An analysis of fewer tiles than the one in ``DIR/analysis`` (damaged tiles skipped, tiles
that failed) does not replace it unless the user asks (``uvscope analyze --replace``); the
previous analysis stays as it was. Every replacement is logged in ``events.jsonl`` with both
tile counts, so what a folder's results rest on can always be traced. A reviewer's work in
the previous analysis (reviewed labels, red-cell review, sign-off) is never thrown away: a
re-analysis refuses it unless ``--replace``, and then copies those files to
``DIR/review-archive/<time>/`` before the new analysis takes the old one's place.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from uvscope.errors import StorageError

#: the files of a review, inside ``DIR/analysis`` (uvscope.analysis.review, .rbc_review)
REVIEW_FILES: tuple[str, ...] = ("reviewed_labels.csv", "reviewed_rbc.csv", "signoff.json")
ARCHIVE = "review-archive"


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


def review_files(scan_dir: Path) -> list[Path]:
    """The review files the analysis in ``DIR/analysis`` holds."""
    root = Path(scan_dir) / "analysis"
    return [root / name for name in REVIEW_FILES if (root / name).is_file()]


def check_review_kept(scan_dir: Path, replace: bool) -> None:
    """Raises ResultsKept when the previous analysis holds a review and ``replace`` was not
    asked for: its cells may not be the new analysis's, so the review would not carry over."""
    found = review_files(scan_dir)
    if found and not replace:
        names = ", ".join(p.name for p in found)
        raise ResultsKept(
            f"{Path(scan_dir) / 'analysis'} holds a reviewer's work ({names}) that a new "
            "analysis would not carry over, so the previous results were kept unchanged. Give "
            f"--replace to analyse again anyway (those files are kept in {ARCHIVE}/ first)"
        )


def archive_review(scan_dir: Path) -> Path | None:
    """Copy the previous analysis's review files to ``DIR/review-archive/<time>/`` (None when
    it has none); done before a new analysis replaces the old one."""
    found = review_files(scan_dir)
    if not found:
        return None
    dest = Path(scan_dir) / ARCHIVE / time.strftime("%Y%m%dT%H%M%S")
    dest.mkdir(parents=True, exist_ok=True)
    for path in found:
        shutil.copy2(path, dest / path.name)
    return dest


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
