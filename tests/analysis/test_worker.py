"""The streaming worker: backpressure, no tile lost, failures isolated, events, stop rule."""

from __future__ import annotations

import time

import numpy as np

from tests.analysis.conftest import PX_UM, SHAPE
from tests.analysis.synth import FakeSegmenter, fake_models, grid_specs, make_tile, random_slide
from uvscope.analysis.settings import AnalysisSettings
from uvscope.analysis.worker import AnalysisWorker


class SlowSegmenter(FakeSegmenter):
    def __init__(self, delay_s: float, fail_on_blank: bool = False) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.fail_on_blank = fail_on_blank

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(self.delay_s)
        if self.fail_on_blank and np.any(batch.reshape(len(batch), -1).max(axis=1) == 0):
            raise RuntimeError("network blew up on a blank patch")
        return super().predict(batch)


def _tiles(n: int):
    specs = grid_specs(1, n, SHAPE, PX_UM, 0.3)
    cells = random_slide(
        3 * n,
        (specs[0].x_mm * 1e3 - 15, specs[-1].x_mm * 1e3 + 15),
        (specs[0].y_mm * 1e3 - 10, specs[0].y_mm * 1e3 + 10),
        seed=4,
    )
    return specs, [make_tile(s, cells, SHAPE, PX_UM) for s in specs]


def test_slow_analysis_blocks_put_and_loses_nothing(settings: AnalysisSettings) -> None:
    specs, tiles = _tiles(6)
    models = fake_models()
    models.segmenter = SlowSegmenter(0.05)
    s = settings.replace(
        queue_size=1, inference={**settings.inference.model_dump(), "tile_batch": 1}
    )
    w = AnalysisWorker(models, s, plan=specs)
    seen: list[int] = []
    w.tile_analysed.connect(lambda r: seen.append(r.index))
    put_times = []
    for t in tiles:
        t0 = time.perf_counter()
        w.put(t)
        put_times.append(time.perf_counter() - t0)
    assert max(put_times) > 0.03, "put should have waited for the slow analysis"
    w.close()
    assert sorted(seen) == [t.index for t in tiles]
    assert sorted(w.results) == [t.index for t in tiles] and not w.failed


def test_worker_survives_an_exception_on_one_tile(settings: AnalysisSettings) -> None:
    specs, tiles = _tiles(4)
    tiles[2].normalised[260] = np.zeros(SHAPE, np.float32)  # a blank frame; the fake net raises
    models = fake_models()
    models.segmenter = SlowSegmenter(0.0, fail_on_blank=True)
    w = AnalysisWorker(models, settings, plan=specs)
    errors: list[tuple[int, str]] = []
    w.error.connect(lambda i, m: errors.append((i, m)))
    for t in tiles:
        w.put(t)
    w.close()
    assert [i for i, _ in errors] == [2]
    assert "blank patch" in errors[0][1]
    assert w.failed.keys() == {2}
    assert all(not w.results[i].failed for i in (0, 1, 3))
    d = w.differential()
    assert d.tiles_failed == 1 and d.tiles_analysed == 3


def test_differential_events_and_stop_rule(settings: AnalysisSettings) -> None:
    specs, tiles = _tiles(4)
    s = settings.replace(counting={"stop_after_wbc": 2})
    w = AnalysisWorker(fake_models(), s, plan=specs)
    diffs = []
    w.differential_changed.connect(diffs.append)
    stopped_after = None
    for k, t in enumerate(tiles):
        w.put(t)
        deadline = time.perf_counter() + 5
        while w.pending or len(diffs) <= k:
            if time.perf_counter() > deadline:
                break
            time.sleep(0.01)
        if w.should_stop():
            stopped_after = k
            break
    w.close()
    assert stopped_after is not None
    assert diffs[-1].healthy >= 2
    assert [d.tiles_analysed for d in diffs] == list(range(1, len(diffs) + 1))


def test_results_do_not_depend_on_batching(settings: AnalysisSettings) -> None:
    specs, tiles = _tiles(5)
    rows = []
    for batch in (1, 4):
        s = settings.replace(inference={**settings.inference.model_dump(), "tile_batch": batch})
        w = AnalysisWorker(fake_models(), s, plan=specs)
        for t in tiles:
            w.put(t)
        w.close()
        rows.append([c.to_row() for r in w.sorted_results() for c in r.cells])
    assert rows[0] and repr(rows[0]) == repr(rows[1])  # repr: NaN == NaN for absent wavelengths


def test_put_after_close_is_an_error(settings: AnalysisSettings) -> None:
    import pytest

    from uvscope.errors import AnalysisError

    specs, tiles = _tiles(1)
    w = AnalysisWorker(fake_models(), settings, plan=specs)
    w.close()
    with pytest.raises(AnalysisError):
        w.put(tiles[0])
