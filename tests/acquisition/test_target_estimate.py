"""The target estimate: a projection of the counts, seconds and bytes of the first tiles."""

import pytest

from uvscope.acquisition.target_estimate import MIN_TILES, TargetWatch, estimate_target


def test_projection_from_the_first_tiles():
    # 20 tiles analysed held 6 WBCs (0.3 a tile) 44 s after the first tile, 22 taken, 22 MB
    est = estimate_target(200, 6, 20, 22, 44.0, 22_000_000, reach_tiles=1000)
    assert est is not None and est.reachable
    assert est.wbc_per_tile == pytest.approx(0.3)
    assert est.tiles == 667 + 2  # 200 / 0.3, and the 2 tiles the analysis is behind
    # the analysis's pace (2.2 s a tile) sets the time: the scan ends when it reaches 667
    assert est.total_s == pytest.approx(2.2 * 667)
    assert est.remaining_s == pytest.approx(2.2 * 667 - 44.0)
    assert est.disk_bytes == 669_000_000
    assert "669 tiles for 200 WBCs" in est.text()


def test_the_area_ends_first():
    est = estimate_target(200, 6, 20, 20, 40.0, 0, reach_tiles=300)
    assert est is not None and not est.reachable and est.tiles == 300
    assert "the area ends first (~90 WBCs)" in est.text()


def test_no_estimate_before_a_density_is_measured():
    assert estimate_target(200, 3, MIN_TILES - 1, 12, 10.0, 0, 100) is None
    assert estimate_target(200, 0, 50, 50, 10.0, 0, 100) is None


def test_the_watch_counts_time_from_the_first_tile_and_speaks_when_the_estimate_moves():
    reads: list[int] = []

    def size() -> int:
        reads.append(1)
        return 1_000 * 20

    watch = TargetWatch(100, reach_tiles=1000, folder_bytes=size)
    assert watch.update(0, 0, 5, now_s=100.0) is None  # the first tile seen: the clock starts
    assert watch.update(1, 5, 6, 102.0) is None  # too few tiles analysed
    est = watch.update(5, 20, 25, 140.0)  # 20 tiles analysed 40 s after the first: 2 s each
    assert est is not None and est.tiles == 400 + 5
    assert est.total_s == pytest.approx(2.0 * 400) and est.disk_bytes == 405 * 800
    assert watch.update(5, 21, 26, 142.0) is None  # moved less than a tenth: not said again
    assert len(reads) == 1  # the folder is measured only when an estimate is said
    assert watch.update(10, 22, 27, 144.0).tiles == 220 + 5  # the density doubled
