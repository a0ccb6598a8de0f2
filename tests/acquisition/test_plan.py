import numpy as np
import pytest

from uvscope.acquisition.plan import plan_tiles
from uvscope.config import RegionConfig, ScanConfig, StageConfig
from uvscope.errors import LimitError

FOV = (0.2227, 0.1664)  # 1392 x 1040 px at 0.16 um


def scan(**region) -> ScanConfig:
    return ScanConfig(region=RegionConfig(**region))


def test_rows_columns_serpentine_and_overlap():
    plan = plan_tiles(scan(center_mm=(40.0, 30.0), rows=3, columns=4), FOV, StageConfig())
    assert (plan.rows, plan.columns, len(plan)) == (3, 4, 12)
    cols = [t.col for t in plan.tiles]
    assert cols == [0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3]
    xs = sorted({round(t.x_mm, 9) for t in plan.tiles})
    step = np.diff(xs)
    assert np.allclose(step, FOV[0] * 0.85)
    # overlap between neighbours is the requested 15 %
    assert np.allclose(1 - step / FOV[0], 0.15)
    # grid centred on the requested centre
    assert np.isclose(np.mean(xs), 40.0) and np.isclose(np.mean([t.y_mm for t in plan.tiles]), 30.0)


def test_raster_order():
    s = ScanConfig(region=RegionConfig(center_mm=(40, 30), rows=2, columns=3), order="raster")
    plan = plan_tiles(s, FOV, StageConfig())
    assert [t.col for t in plan.tiles] == [0, 1, 2, 0, 1, 2]


def test_corners_are_covered():
    plan = plan_tiles(scan(corners_mm=((40.0, 30.0), (41.0, 30.5))), FOV, StageConfig())
    x0, y0, x1, y1 = plan.bounds_mm
    assert x0 <= 40.0 and y0 <= 30.0 and x1 >= 41.0 and y1 >= 30.5
    # no more tiles than needed: dropping a column would leave the region uncovered
    assert (plan.columns - 1) * plan.step_mm[0] < 1.0 + 1e-9 or plan.columns == 1


def test_centre_and_size():
    plan = plan_tiles(scan(center_mm=(40.0, 30.0), size_mm=(0.5, 0.5)), FOV, StageConfig())
    x0, y0, x1, y1 = plan.bounds_mm
    assert x1 - x0 >= 0.5 and y1 - y0 >= 0.5


def test_region_outside_limits_is_refused_with_the_limit_named():
    with pytest.raises(LimitError) as exc:
        plan_tiles(scan(center_mm=(109.99, 30.0), rows=1, columns=5), FOV, StageConfig())
    assert "stage.x_limits_mm" in str(exc.value) and "Nothing was moved" in str(exc.value)
    with pytest.raises(LimitError, match="stage.y_limits_mm"):
        plan_tiles(scan(center_mm=(40.0, -1.0), rows=1, columns=1), FOV, StageConfig())
