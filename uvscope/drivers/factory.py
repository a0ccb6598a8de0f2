"""Build each device of a rig with its own backend's factory (serial, pco, micromanager, sim).

``uvscope.drivers.rig.build_rig`` sends fully simulated rigs to the simulator's whole-rig
builder and everything else here. Simulated devices come from the backend registry (the
simulator registers them), so this room never imports the simulator. Mixed rigs work: a
simulated camera renders the virtual slide wherever the real (or emulated) stage, focus and
wheel are, on the real clock.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from uvscope.clock import Clock, RealClock
from uvscope.config import RigConfig
from uvscope.drivers.base import Camera, FilterWheel, FocusAxis, XYStage
from uvscope.drivers.bundle import Rig
from uvscope.drivers.registry import BuildContext, device_builder
from uvscope.drivers.serial_link import SerialFactory


def build_hardware_rig(
    config: RigConfig,
    *,
    renderer: Any = None,
    clock: Clock | None = None,
    serial_factory: SerialFactory | None = None,
    timing_scale: float = 1.0,
    pco_module: ModuleType | None = None,
    mm_core_factory: Any = None,
) -> Rig:
    """A rig whose devices come from their configured backends; nothing is connected yet."""
    clock = clock or RealClock()
    mm = None
    if "micromanager" in {
        config.camera.backend,
        config.filter_wheel.backend,
        config.stage.backend,
        config.focus.backend,
    }:
        from uvscope.drivers.mm_core import MMSession, settings_from

        mm = MMSession(settings_from(config), core_factory=mm_core_factory)

    stage: XYStage
    focus: FocusAxis
    wheel: FilterWheel
    camera: Camera

    # stage and focus: serial ones share a controller when they share a port
    apt_stage = apt_focus = None
    if "serial" in (config.stage.backend, config.focus.backend):
        from uvscope.drivers.thorlabs_apt import build_apt_devices

        apt_stage, apt_focus = build_apt_devices(
            config.stage if config.stage.backend == "serial" else None,
            config.focus if config.focus.backend == "serial" else None,
            serial_factory=serial_factory,
            timing_scale=timing_scale,
        )
    ctx = BuildContext(config, clock, renderer=renderer)
    if apt_stage is not None:
        stage = apt_stage
    elif config.stage.backend == "micromanager":
        from uvscope.drivers.micromanager import MMXYStage

        stage = MMXYStage(config, mm)  # type: ignore[arg-type]
    else:
        stage = device_builder("xy_stage", config.stage.backend)(ctx)
    ctx.stage = stage

    if apt_focus is not None:
        focus = apt_focus
    elif config.focus.backend == "micromanager":
        from uvscope.drivers.micromanager import MMFocus

        focus = MMFocus(config, mm)  # type: ignore[arg-type]
    else:
        focus = device_builder("focus", config.focus.backend)(ctx)
    ctx.focus = focus

    wheel = _wheel(config, mm, ctx, serial_factory, timing_scale)
    ctx.wheel = wheel
    camera, world = _camera(config, mm, ctx, pco_module)
    return Rig(
        config=config,
        camera=camera,
        filter_wheel=wheel,
        stage=stage,
        focus=focus,
        clock=clock,
        world=world,
    )


def _wheel(
    config: RigConfig,
    mm: Any,
    ctx: BuildContext,
    serial_factory: SerialFactory | None,
    timing_scale: float,
) -> FilterWheel:
    if config.filter_wheel.backend == "serial":
        from uvscope.drivers.thorlabs_fw import ThorlabsFilterWheel

        return ThorlabsFilterWheel(
            config.filter_wheel, serial_factory=serial_factory, timing_scale=timing_scale
        )
    if config.filter_wheel.backend == "micromanager":
        from uvscope.drivers.micromanager import MMFilterWheel

        return MMFilterWheel(config, mm)
    return device_builder("filter_wheel", config.filter_wheel.backend)(ctx)  # type: ignore[no-any-return]


def _camera(
    config: RigConfig, mm: Any, ctx: BuildContext, pco_module: ModuleType | None
) -> tuple[Camera, Any]:
    """The camera, and the simulated world when it renders one."""
    if config.camera.backend == "pco":
        from uvscope.drivers.pco_camera import PcoCamera

        return PcoCamera(config.camera, pco_module=pco_module), None
    if config.camera.backend == "micromanager":
        from uvscope.drivers.micromanager import MMCamera

        return MMCamera(config, mm), None
    camera = device_builder("camera", config.camera.backend)(ctx)
    return camera, ctx.renderer
