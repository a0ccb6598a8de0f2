"""Start the wire-level emulators (FW102C wheel, APT BBD rack) on pseudo-terminals.

Used by ``uvscope sim serve`` and by tests: any serial client, ours or another, can be pointed
at the printed ports. The APT emulator gets the rig's soft limits (in counts) so it can flag
a request outside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from uvscope.config import FW102C_POSITIONS, RigConfig
from uvscope.sim.emu_apt import EmuAptBBD
from uvscope.sim.emu_fw102c import EmuFW102C

DEFAULT_DIR = Path("/tmp/uvscope-emu")


@dataclass
class Emulators:
    wheel: EmuFW102C
    apt: EmuAptBBD

    @property
    def ports(self) -> dict[str, str]:
        return {"filter_wheel": self.wheel.path, "stage": self.apt.path, "focus": self.apt.path}

    def stop(self) -> None:
        self.wheel.stop()
        self.apt.stop()

    def __enter__(self) -> Emulators:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def soft_limits_counts(rig: RigConfig) -> dict[int, tuple[int, int]]:
    s, f = rig.stage, rig.focus

    def counts(lim: tuple[float, float], scale: float) -> tuple[int, int]:
        return round(lim[0] * scale), round(lim[1] * scale)  # as the driver rounds them

    return {
        s.x_bay: counts(s.x_limits_mm, s.counts_per_mm),
        s.y_bay: counts(s.y_limits_mm, s.counts_per_mm),
        f.bay: counts(f.limits_um, f.counts_per_um),
    }


def start_emulators(
    rig: RigConfig | None = None,
    *,
    link_dir: str | Path = DEFAULT_DIR,
    time_scale: float = 1.0,
    start_homed: bool = False,
    start_mm: tuple[float, float] | None = None,
    start_z_um: float | None = None,
) -> Emulators:
    """Both emulators, started; the wheel's slot count and the rack's bays follow ``rig``."""
    rig = rig or RigConfig()
    Path(link_dir).mkdir(parents=True, exist_ok=True)
    wheel = EmuFW102C(
        # an FW102C for any rig: the rig's count, 6 where a Micro-Manager wheel leaves it out
        position_count=rig.filter_wheel.position_count or FW102C_POSITIONS,
        ms_per_slot=rig.filter_wheel.move_ms_per_slot,
        link_dir=link_dir,
        time_scale=time_scale,
    )
    s, f = rig.stage, rig.focus
    bays = {s.x_bay: (0, 2_200_000), s.y_bay: (0, 1_500_000), f.bay: (0, 500_000)}
    apt = EmuAptBBD(
        bays=bays,
        soft_limits=soft_limits_counts(rig),
        start_homed=start_homed,
        link_dir=link_dir,
        time_scale=time_scale,
    )
    if start_mm is not None:
        apt.axes[s.x_bay].position = round(start_mm[0] * s.counts_per_mm)
        apt.axes[s.y_bay].position = round(start_mm[1] * s.counts_per_mm)
    if start_z_um is not None:
        apt.axes[f.bay].position = round(start_z_um * f.counts_per_um)
    wheel.start()
    try:
        apt.start()
    except BaseException:
        wheel.stop()
        raise
    return Emulators(wheel, apt)
