"""Homing a rig's stage and focus safely, for the CLI and the GUI alike.

Homing sends X and Y to their reverse limit switches wherever the objective is, so the focus
first gets out of the way: it is homed first when it is one of the axes asked (its reference
is the far end of its travel, away from the slide), or else lowered by the clearance the
objective needs (inside its soft limits) when it may move. The plan says all of that before
anything moves, so the user confirms knowing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from uvscope.drivers.base import FocusAxis, XYStage
from uvscope.errors import ConfigError

AXES = ("x", "y", "z")


@dataclass(frozen=True)
class HomingPlan:
    """What ``home`` will do, in order, as sentences for the confirmation."""

    axes: tuple[str, ...]
    steps: tuple[str, ...]
    lower_focus_to_um: float | None = None
    warnings: tuple[str, ...] = ()


@dataclass
class HomingResult:
    homed: dict[str, bool | None] = field(default_factory=dict)
    position_mm: tuple[float, float] | None = None
    z_um: float | None = None


def parse_axes(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``x``, ``y``, ``z`` (or ``focus``), or ``all``; in homing order (z first)."""
    wanted = {("z" if n == "focus" else n) for n in names} or {"all"}
    if "all" in wanted:
        wanted = set(AXES)
    bad = wanted - set(AXES)
    if bad:
        raise ConfigError(f"unknown axis {sorted(bad)}; home x, y, z (focus) or all")
    return tuple(a for a in ("z", "x", "y") if a in wanted)


def plan_homing(
    stage: XYStage, focus: FocusAxis, axes: tuple[str, ...], clearance_um: float
) -> HomingPlan:
    """The steps homing ``axes`` takes on connected devices; nothing moves here."""
    steps: list[str] = []
    warnings: list[str] = []
    lower_to = None
    xy = tuple(a for a in axes if a in ("x", "y"))
    if "z" in axes:
        steps.append("home the focus (it runs to its reference, away from the slide)")
    elif xy and focus.is_homed() is not False:
        z = focus.position_um()
        lower_to = max(focus.limits_um[0], z - clearance_um)
        steps.append(
            f"lower the focus from {z:.1f} um to {lower_to:.1f} um (clearance {clearance_um:g} um)"
        )
    elif xy:
        warnings.append(
            "the focus is not homed, so it cannot be lowered first: make sure "
            "the objective clears the slide and the stage insert"
        )
    if xy:
        steps.append(f"home stage {' and '.join(xy)} (each runs to its reverse limit switch)")
    return HomingPlan(axes, tuple(steps), lower_to, tuple(warnings))


def home(stage: XYStage, focus: FocusAxis, plan: HomingPlan) -> HomingResult:
    """Carry out ``plan`` on connected devices and report what the controllers say."""
    if "z" in plan.axes:
        focus.home()
    elif plan.lower_focus_to_um is not None:
        focus.move_to_um(plan.lower_focus_to_um)
    xy = tuple(a for a in plan.axes if a in ("x", "y"))
    if xy:
        stage.home(xy)
    result = HomingResult()
    result.homed = {**stage.homed_axes(), "z": focus.is_homed()}
    result.position_mm = stage.position_mm()
    result.z_um = focus.position_um()
    return result
