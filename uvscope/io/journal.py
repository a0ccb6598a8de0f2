"""The scan journal's records: one finished tile a line, framed with a CRC32.

``ScanFolder`` appends and reads them (``tiles.jsonl``, ``events.jsonl``), and the folder
check (``uvscope.io.scancheck``) reads them too, below the folder class that calls it. A
torn or damaged line parses to None: its tile was never done.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TileRecord:
    """The journal line of one finished tile."""

    index: int
    row: int
    col: int
    x_mm: float
    y_mm: float
    z_um: float
    wavelengths: list[int]
    exposure_ms: dict[str, float]
    background_id: str
    acquired_at_s: float
    status: str = "done"
    extra: dict[str, Any] | None = None


def _canonical(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


def frame_record(obj: dict[str, Any]) -> str:
    """One journal line: the record as JSON with a CRC32 of its content as the last key."""
    body = json.loads(_canonical(obj))  # what a reader will parse back
    body.pop("crc32", None)
    crc = zlib.crc32(_canonical(body).encode("utf-8"))
    return _canonical({**body, "crc32": f"{crc:08x}"}) + "\n"


def parse_record(line: str) -> dict[str, Any] | None:
    """The record of a journal line, or None if it is torn or damaged.

    Lines without a CRC (folders written before framing) are accepted when they parse.
    """
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    crc = obj.pop("crc32", None)
    if crc is None:
        return obj
    if not isinstance(crc, str) or f"{zlib.crc32(_canonical(obj).encode('utf-8')):08x}" != crc:
        return None
    return obj
