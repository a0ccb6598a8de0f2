"""Property: whatever sequence of moves is asked for, no request outside the soft limits
reaches the controller (the emulator records every requested position)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.drivers.conftest import X_LIMITS, Y_LIMITS, Z_LIMITS, apt_soft_limits
from uvscope.errors import LimitError

coord = st.one_of(
    st.floats(-50.0, 200.0, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, X_LIMITS[1], Y_LIMITS[1]]),
)
step = st.tuples(st.sampled_from(["abs", "rel", "focus"]), coord, coord)


def inside(v: float, lim: tuple[float, float]) -> bool:
    return math.isfinite(v) and lim[0] <= v <= lim[1]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=1, max_size=5))
def test_random_moves_never_leave_the_soft_limits(stage_focus, apt_emu, steps):
    xy, z = stage_focus
    for kind, a, b in steps:
        x0, y0 = xy.position_mm()
        if kind == "abs":
            target, call = (a, b), lambda a=a, b=b: xy.move_to_mm(a, b)
        elif kind == "rel":
            dx, dy = a / 10, b / 10
            target, call = (x0 + dx, y0 + dy), lambda dx=dx, dy=dy: xy.move_by_mm(dx, dy)
        else:
            zt = a * 60.0
            target, call = None, lambda zt=zt: z.move_to_um(zt)
        ok = (
            inside(zt, Z_LIMITS)
            if target is None
            else inside(target[0], X_LIMITS) and inside(target[1], Y_LIMITS)
        )
        try:
            call()
        except LimitError:
            assert not ok
        else:
            assert ok
    limits = apt_soft_limits()
    assert apt_emu.violations == []
    for move in apt_emu.requested:
        lo, hi = limits[move.bay]
        assert lo <= move.target <= hi
