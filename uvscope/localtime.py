"""One way to write times: ISO 8601 with the UTC offset in files, local time with it on screen.

Files a scan leaves are read by programs and by people in other time zones, so they carry
the offset (``2026-12-07T18:55:00+01:00``); the window and the report show the lab's local
wall-clock time with the same offset (``2026-12-07 18:55 +01:00``), so a printed report and
the window agree, and nobody has to convert from UTC. Older folders wrote ``+0000``: read too.
"""

from __future__ import annotations

from datetime import datetime


def now_local() -> datetime:
    """The current time in the computer's time zone, with its offset."""
    return datetime.now().astimezone()


def iso_now() -> str:
    """The current local time as ISO 8601 with the offset, to the second (for files)."""
    return now_local().isoformat(timespec="seconds")


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time as written by any uvscope version (``+0000``, ``+00:00``, ``Z``);
    None when the text is empty or not a time. A time without an offset is taken as local."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.astimezone()


def local_text(when: str | datetime | None, seconds: bool = False) -> str:
    """``2026-12-07 18:55 +01:00``: the local time with its offset, as people read it; ""
    for no time; text that is not a time comes back unchanged (never hidden)."""
    if when is None:
        return ""
    parsed = parse_time(when) if isinstance(when, str) else when
    if parsed is None:
        return str(when)
    local = parsed.astimezone()
    offset = local.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + f" {offset}"
