from __future__ import annotations

import pytest

from uvscope.analysis.differential import DifferentialCounter, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        # by hand: centre = (p + z^2/2n) / (1 + z^2/n),
        #          half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
        (60, 100, 0.50201, 0.69061),
        (0, 10, 0.0, 0.27753),
        (10, 10, 0.72247, 1.0),
        (1, 200, 0.00088, 0.02777),
    ],
)
def test_wilson_interval_matches_hand_computed_values(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson_interval(k, n, 0.95)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_interval_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        wilson_interval(5, 3)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_counter_reports_percentages_and_dead_apart() -> None:
    c = DifferentialCounter()
    for _ in range(6):
        c.add("neutrophil", False)
    for _ in range(4):
        c.add("lymphocyte", False)
    c.add("neutrophil", True)
    d = c.snapshot()
    rows = d.by_name()
    assert d.healthy == 10 and d.dead == 1
    assert rows["neutrophil"].percent == pytest.approx(60.0)
    assert rows["lymphocyte"].percent == pytest.approx(40.0)
    assert rows["basophil"].count == 0 and rows["basophil"].ci_high_percent > 0
    assert rows["neutrophil"].ci_low_percent < 60 < rows["neutrophil"].ci_high_percent
    with pytest.raises(ValueError):
        c.add("platelet", False)


def test_stop_rule_fires_at_n_healthy_cells_only() -> None:
    c = DifferentialCounter(stop_after_wbc=3)
    c.add("monocyte", False)
    c.add("monocyte", True)  # dead cells do not count toward the stop rule
    c.add("basophil", True)
    assert not c.should_stop()
    c.add("eosinophil", False)
    assert not c.should_stop()
    c.add("lymphocyte", False)
    assert c.should_stop()
    assert not DifferentialCounter().should_stop()
