"""Freed tile memory goes back to the system after each tile (glibc's malloc_trim)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from uvscope.allocator import _glibc_malloc_trim, release_free_memory

# many tile-sized arrays freed out of order leave free pages inside glibc's heap; the resident
# size (VmRSS) drops only when they are handed back
PROBE = """
import sys
import numpy as np
from uvscope.allocator import release_free_memory
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
big = np.ones(16 * 2**20, np.uint8); del big  # freeing it raises glibc's mmap threshold
keep, tmp = [], []
for i in range(120):  # 1.5 MB blocks from the heap, every other one kept
    (keep if i % 2 else tmp).append(np.ones(1_500_000 // 8))
del tmp
before = rss_mib()
released = release_free_memory(0.0) if sys.argv[1] == "trim" else False
print(released, round(before - rss_mib()))
"""


def _probe(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "UVSCOPE_MALLOC"))}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env, check=True
    )
    released, freed_mib = out.stdout.split()
    return released, int(freed_mib)


@pytest.mark.skipif(
    _glibc_malloc_trim() is None, reason="glibc only: elsewhere release_free_memory does nothing"
)
def test_freed_heap_pages_leave_the_resident_size():
    assert _probe("trim") == ("True", pytest.approx(86, abs=10))  # 60 blocks of 1.43 MiB
    released, freed_mib = _probe("none")
    assert released == "False" and freed_mib < 5  # without it they stay resident


def test_the_users_choice_is_left_alone(monkeypatch):
    monkeypatch.setenv("UVSCOPE_MALLOC", "system")
    assert release_free_memory() is False


def test_one_trim_a_second_whichever_thread_asks(monkeypatch):
    import uvscope.allocator as allocator

    calls: list[int] = []
    monkeypatch.delenv("UVSCOPE_MALLOC", raising=False)
    monkeypatch.setattr(allocator, "_glibc_malloc_trim", lambda: lambda pad: calls.append(pad) or 1)
    monkeypatch.setattr(allocator, "_last_s", -float("inf"))
    clock = iter([100.0, 100.4, 100.9, 101.1])
    monkeypatch.setattr(allocator, "_clock", lambda: next(clock))
    got = [release_free_memory() for _ in range(4)]
    assert got == [True, False, False, True] and calls == [0, 0]
