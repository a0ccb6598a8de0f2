"""The preparation (darks, background, focus map) reports k of N with an ETA, before the
first tile, through the engine's events."""

from __future__ import annotations

import pytest

from tests.acquisition._focus_world import small_rig, small_scan
from uvscope.acquisition.engine import ScanEngine
from uvscope.acquisition.events import PrepProgress, PrepStep
from uvscope.acquisition.prep_progress import PrepReporter
from uvscope.config import WavelengthConfig


def test_a_map_scan_reports_darks_background_and_each_focus_point_in_order(tmp_path) -> None:
    rig, _ = small_rig()
    scan = small_scan(center=(44.0, 33.0), rows=1, columns=9, mode="map", map_points=3)
    scan = scan.replace(
        wavelengths=(
            WavelengthConfig(nm=260, exposure_ms=50.0),
            WavelengthConfig(nm=280, exposure_ms=5.0),
        )
    )
    eng = ScanEngine(rig, scan, tmp_path / "s")
    seen: list[object] = []
    eng.events.preparing.connect(seen.append)
    eng.events.tile_acquired.connect(lambda tile: seen.append("tile"))
    eng.run()
    first_tile = seen.index("tile")
    prep = [p for p in seen[:first_tile] if isinstance(p, PrepProgress)]
    assert not any(isinstance(p, PrepProgress) for p in seen[first_tile:])  # later backgrounds
    steps = [(p.step, p.done, p.total) for p in prep]
    assert steps == [
        (PrepStep.DARKS, 0, 2),
        (PrepStep.DARKS, 1, 2),
        (PrepStep.DARKS, 2, 2),
        (PrepStep.BACKGROUND, 0, 2),
        (PrepStep.BACKGROUND, 1, 2),
        (PrepStep.BACKGROUND, 2, 2),
        (PrepStep.FOCUS_MAP, 0, 3),
        (PrepStep.FOCUS_MAP, 1, 3),
        (PrepStep.FOCUS_MAP, 2, 3),
        (PrepStep.FOCUS_MAP, 3, 3),
    ]
    assert [p.detail for p in prep[3:6]] == ["260 nm", "280 nm", ""]
    assert prep[6].eta_s is None  # nothing measured yet
    assert all(p.eta_s is not None and p.eta_s >= 0 for p in prep[7:9])
    assert prep[-1].eta_s == 0.0
    assert prep[7].text().startswith("Focus map: point 2 of 3, about ")
    assert prep[-1].text() == "Focus map: 3 of 3 points done"


def test_the_eta_comes_from_the_points_done_so_far() -> None:
    now = [100.0]
    seen: list[PrepProgress] = []
    rep = PrepReporter(seen.append, clock=lambda: now[0])
    rep.begin(PrepStep.FOCUS_MAP, 9)
    for _ in range(2):
        now[0] += 10.0  # 10 s a point
        rep.advance()
    assert seen[-1].done == 2 and seen[-1].eta_s == pytest.approx(70.0)
    assert seen[-1].text() == "Focus map: point 3 of 9, about 70 s left"
    now[0] += 10.0
    rep.advance()
    assert seen[-1].eta_s == pytest.approx(60.0)
    rep.begin(PrepStep.BACKGROUND, 3, "260 nm")
    assert seen[-1].text() == "Background: wavelength 1 of 3 (260 nm)"
