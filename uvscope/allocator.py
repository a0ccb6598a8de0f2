"""Give freed tile memory back to the system after each tile, so a long scan's size stays put.

glibc's malloc keeps freed blocks in its heaps for reuse, and the scan's threads (acquisition,
writer, analysis) each fragment their own heap with megabyte-sized tiles, masks and bands:
on a 5 x 60-tile scan 0.3-0.5 GB of freed memory stayed resident. ``malloc_trim`` hands the
free pages back (they are re-faulted only when reused). Asked once per tile by the tile writer
and the analysis worker, done at most once a second: on an 8 x 16-tile scan (stand-in
networks) peak RSS 895 MiB instead of 1,052 for 2 % more wall time. Mapping every large block
instead (``mallopt(M_MMAP_THRESHOLD)``) kept less resident still but made the simulated scan
10-30 % slower (page faults on every frame's temporaries), so it is not used
(``benchmarks/RESULTS.md``, whole-smear scans).

A no-op outside glibc, or with ``UVSCOPE_MALLOC=system`` (leave glibc's allocator alone).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import os
import time
from collections.abc import Callable

#: at most one trim in this many seconds, whichever thread asks (the writer and the analysis
#: worker both ask once a tile): each trim costs the pages re-faulted when they are reused
MIN_INTERVAL_S = 1.0
_last_s = -math.inf
_clock = time.monotonic  # replaced in tests


def release_free_memory(min_interval_s: float = MIN_INTERVAL_S) -> bool:
    """Return free heap pages to the system (unless done less than ``min_interval_s`` ago);
    True if glibc released any."""
    global _last_s
    if os.environ.get("UVSCOPE_MALLOC", "").lower() == "system":
        return False
    trim = _glibc_malloc_trim()
    now = _clock()
    if trim is None or now - _last_s < min_interval_s:
        return False
    _last_s = now
    return bool(trim(0))


@functools.cache
def _glibc_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    trim: Callable[[int], int] = fn
    return trim
