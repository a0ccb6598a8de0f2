"""Build each device of a rig with its own backend's factory (serial, pco, micromanager, sim).

``uvscope.drivers.rig.build_rig`` sends fully simulated rigs to ``uvscope.sim.devices`` and
everything else here. Mixed rigs work: a simulated camera renders the virtual slide wherever
the real (or emulated) stage, focus and wheel are, on the real clock.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from uvscope.clock import Clock, RealClock
from uvscope.config import RigConfig
from uvscope.drivers.base import Camera, FilterWheel, FocusAxis, XYStage
from uvscope.drivers.serial_link import SerialFactory
from uvscope.errors import ConfigError


def build_hardware_rig(
    config: RigConfig,
    *,
    renderer: Any = None,
    clock: Clock | None = None,
    serial_factory: SerialFactory | None = None,
    timing_scale: float = 1.0,
    pco_module: ModuleType | None = None,
    mm_core_factory: Any = None,
):  # -> Rig (import cycle avoided)
    """A rig whose devices come from their configured backends; nothing is connected yet."""
    from uvscope.drivers.rig import Rig

    clock = clock or RealClock()
    mm = None
    if "micromanager" in {config.camera.backend, config.filter_wheel.backend,
                          config.stage.backend, config.focus.backend}:
        from uvscope.drivers.micromanager import MMSession, settings_from

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
            serial_factory=serial_factory, timing_scale=timing_scale,
        )
    if apt_stage is not None:
        stage = apt_stage
    elif config.stage.backend == "micromanager":
        from uvscope.drivers.micromanager import MMXYStage

        stage = MMXYStage(config, mm)  # type: ignore[arg-type]
    else:
        from uvscope.sim.devices import SimXYStage

        stage = SimXYStage(config.stage, clock)

    if apt_focus is not None:
        focus = apt_focus
    elif config.focus.backend == "micromanager":
        from uvscope.drivers.micromanager import MMFocus

        focus = MMFocus(config, mm)  # type: ignore[arg-type]
    else:
        from uvscope.sim.devices import SimFocusAxis

        lo, hi = config.focus.limits_um
        focus = SimFocusAxis(config.focus, clock,
                             start_um=min(max(config.sim.focus_z_um, lo), hi))

    if config.filter_wheel.backend == "serial":
        from uvscope.drivers.thorlabs_fw import ThorlabsFilterWheel

        wheel = ThorlabsFilterWheel(config.filter_wheel, serial_factory=serial_factory,
                                    timing_scale=timing_scale)
    elif config.filter_wheel.backend == "micromanager":
        from uvscope.drivers.micromanager import MMFilterWheel

        wheel = MMFilterWheel(config, mm)  # type: ignore[arg-type]
    else:
        from uvscope.sim.devices import SimFilterWheel

        wheel = SimFilterWheel(config.filter_wheel, clock)

    world = None
    if config.camera.backend == "pco":
        from uvscope.drivers.pco_camera import PcoCamera

        camera = PcoCamera(config.camera, pco_module=pco_module)
    elif config.camera.backend == "micromanager":
        from uvscope.drivers.micromanager import MMCamera

        camera = MMCamera(config, mm)  # type: ignore[arg-type]
    elif config.camera.backend == "sim":
        from uvscope.sim.devices import SimCamera

        if renderer is None:
            try:
                from uvscope.sim.world import SimWorld
            except ImportError as err:
                raise ConfigError(
                    f"camera.backend = \"sim\" needs the simulated world ({err}); "
                    "this build has none"
                ) from None
            renderer = SimWorld(config.sim, config.camera)
        world = renderer
        camera = SimCamera(config.camera, clock, renderer, stage, focus, wheel,
                           seed=config.sim.seed)
    else:  # pragma: no cover - the config model admits no other value
        raise ConfigError(f"camera.backend {config.camera.backend!r} is not supported")
    return Rig(config=config, camera=camera, filter_wheel=wheel, stage=stage, focus=focus,
               clock=clock, world=world)
