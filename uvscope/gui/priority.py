"""Run the GUI's heavy helper threads at a lower OS priority than the GUI thread.

On a small machine the analysis (torch uses every core) and the tile preparation compete with
the GUI thread for the CPU; the window then misses its 50 ms budget although its own work per
event is a few ms. Linux keeps a nice value per thread, so lowering those threads lets the
scheduler favour the GUI thread without slowing them when the CPU is free. Threads they start
later (torch's OpenMP pool) inherit the value. The acquisition thread keeps normal priority:
its timing matters on a real rig. Elsewhere (no per-thread nice) this does nothing.
"""

from __future__ import annotations

import os
import threading

#: nice value of the analysis threads (CPU-heavy, never time-critical): the lowest, since the
#: analysis team spin-waits between torch operations and took the window's headroom at 10
ANALYSIS_NICE = 19
#: nice value of the tile-preparation thread (display pyramids, cell thumbnails)
TILE_PREP_NICE = 5
ANALYSIS_THREAD_PREFIX = "uvscope-analysis"


def lower_thread_priority(native_id: int | None, nice: int) -> bool:
    """Raise a thread's nice value to at least ``nice``; False where that is not possible."""
    if native_id is None or not hasattr(os, "setpriority"):
        return False
    try:
        current = os.getpriority(os.PRIO_PROCESS, native_id)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, native_id, nice)
    except OSError:
        return False
    return True


def lower_current_thread(nice: int = TILE_PREP_NICE) -> bool:
    """For a thread pool's initializer."""
    return lower_thread_priority(threading.get_native_id(), nice)


def lower_analysis_threads(nice: int = ANALYSIS_NICE) -> int:
    """Lower every running analysis thread (call before its first tile); returns how many."""
    return sum(
        lower_thread_priority(t.native_id, nice)
        for t in threading.enumerate()
        if t.name.startswith(ANALYSIS_THREAD_PREFIX)
    )
