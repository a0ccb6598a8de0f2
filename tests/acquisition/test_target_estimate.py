"""The target estimate: density from the tiles analysed, time from each side's recent pace."""

import math

import pytest

from uvscope.acquisition.target_estimate import (
    MIN_TILES,
    PaceWindow,
    TargetWatch,
    estimate_target,
)

PACE_S = 2.2  # seconds per analysed tile


def test_projection_from_the_density_and_the_pace():
    # 20 tiles analysed held 6 WBCs (0.3 a tile) 44 s after the first tile, 22 taken, 22 MB
    est = estimate_target(200, 6, 20, 22, 44.0, 22_000_000, 1000, PACE_S)
    assert est is not None and est.reachable
    assert est.wbc_per_tile == pytest.approx(0.3)
    assert est.tiles == 667 + 2  # 200 / 0.3, and the 2 tiles the analysis is behind
    # the analysis has 669 - 20 tiles to go at 2.2 s: its backlog drains after the count
    assert est.remaining_s == pytest.approx(2.2 * (669 - 20))
    assert est.total_s == pytest.approx(44.0 + 2.2 * 649)
    assert est.disk_bytes == 669_000_000
    assert "669 tiles for 200 WBCs" in est.text()


def test_the_area_ends_first():
    est = estimate_target(200, 6, 20, 20, 40.0, 0, 300, PACE_S)
    assert est is not None and not est.reachable and est.tiles == 300
    assert est.remaining_s == pytest.approx(2.2 * 280)
    assert "the area ends first (~90 WBCs)" in est.text()


def test_no_estimate_before_a_density_is_measured():
    assert estimate_target(200, 3, MIN_TILES - 1, 12, 10.0, 0, 100, PACE_S) is None
    assert estimate_target(200, 0, 50, 50, 10.0, 0, 100, PACE_S) is None


def test_the_pace_is_the_recent_half_of_the_tiles():
    window = PaceWindow()
    assert window.seconds_per_tile() is None
    t = 0.0
    for n in range(1, 41):  # 20 slow tiles (10 s), then 20 at 2 s
        t += 10.0 if n <= 20 else 2.0
        window.add(t, n)
    window.add(t + 1.0, 40)  # no new tile: not a sample
    assert window.seconds_per_tile() == pytest.approx(2.0)  # the last 20 of 40


def _simulate(analysis_s, target=200, wbc_per_tile=0.3, acq_s=1.0, queue=8):
    """A target-count scan's events (time, WBCs, analysed, taken) on a simple model: the
    acquisition takes a tile every ``acq_s`` and runs at most ``queue`` tiles ahead of the
    analysis, which takes ``analysis_s(k)`` for tile k; the scan stops taking tiles once the
    count is reached, and ends when the analysis has analysed every tile taken."""
    taken_at: list[float] = []  # when each tile was taken
    events: list[tuple[float, int, int, int]] = []
    t_ana, analysed, stop = 0.0, 0, False
    while analysed < len(taken_at) or not stop:
        while not stop and len(taken_at) - analysed < queue:  # the acquisition runs ahead
            before = taken_at[-1] if taken_at else 0.0
            taken_at.append(max(before + acq_s, t_ana if len(taken_at) > analysed else 0.0))
        t_ana = max(t_ana, taken_at[analysed]) + analysis_s(analysed)
        analysed += 1
        wbc = math.floor(wbc_per_tile * analysed + 1e-9)
        stop = stop or wbc >= target
        taken = sum(1 for t in taken_at if t <= t_ana)
        events.append((t_ana, wbc, analysed, taken))
    return events, taken_at


@pytest.mark.parametrize(
    "case, analysis_s, settled",
    [
        ("a warm-up, then a steady pace", lambda k: 8.0 if k < 12 else 2.0, 24),
        # the analysis first drains the tiles it fell behind by, then waits for tiles
        ("the acquisition is the slower side", lambda k: 4.0 if k < 8 else 0.6, 40),
        ("the machine slows down at tile 60", lambda k: 2.0 if k < 60 else 3.5, 120),
    ],
)
def test_the_estimate_comes_within_30_percent_of_the_real_time(case, analysis_s, settled):
    """Every estimate from the tile on where the pace window (the last half of the tiles)
    holds only the steady pace: twice the tiles at which it last changed."""
    events, taken_at = _simulate(analysis_s)
    first_s, end_s = taken_at[0], events[-1][0]
    watch = TargetWatch(200, reach_tiles=2000, folder_bytes=lambda: 0)
    watch.update(0, 0, 1, first_s)  # the first tile: the clock starts
    off: dict[int, float] = {}
    for now, wbc, analysed, taken in events:
        watch.update(wbc, analysed, taken, now)
        if watch.latest is not None:
            off[analysed] = watch.latest.total_s / (end_s - first_s) - 1
    assert watch.latest is not None and watch.latest.tiles == len(taken_at)
    late = {n: v for n, v in off.items() if n >= settled}
    assert len(late) > 500
    worst = max(late.values(), key=abs)
    assert abs(worst) <= 0.30, (case, worst)
    if settled < 100:  # a real test: after a warm-up the pace since the first tile misses
        t, _wbc, n, _taken = next(e for e in events if e[2] == settled)
        since_first_s = (t - first_s) / n * len(taken_at)
        assert abs(since_first_s / (end_s - first_s) - 1) > 0.30


def test_the_watch_speaks_when_the_estimate_moves_and_reads_the_folder_only_then():
    reads: list[int] = []

    def size() -> int:
        reads.append(1)
        return 1_000 * 20

    watch = TargetWatch(100, reach_tiles=1000, folder_bytes=size)
    assert watch.update(0, 0, 5, now_s=100.0) is None  # the first tile seen: the clock starts
    assert watch.update(1, 5, 6, 102.0) is None  # too few tiles analysed
    est = watch.update(5, 20, 25, 140.0)  # 15 tiles analysed in 38 s: 2.53 s a tile
    assert est is not None and est.tiles == 400 + 5
    assert est.disk_bytes == 405 * 800
    assert watch.projected_end_s == pytest.approx(140.0 + est.remaining_s)
    assert watch.update(5, 21, 26, 142.0) is None  # moved less than a tenth: not said again
    assert watch.latest is not None and watch.latest.tiles == 420 + 5  # 5 WBCs in 21
    assert len(reads) == 1  # the folder is measured only when an estimate is said
    moved = watch.update(10, 22, 27, 144.0)  # the density doubled
    assert moved is not None and moved.tiles == 220 + 5 and len(reads) == 2
