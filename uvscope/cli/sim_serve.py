"""``uvscope sim serve``: the FW102C and APT emulators on pseudo-terminals until Ctrl-C."""

from __future__ import annotations

import math
import time
from pathlib import Path

import click

from uvscope.cli.options import rig_option
from uvscope.config import RigConfig, load_rig


def _idle() -> None:
    time.sleep(0.5)


def _time_scale(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """0 or more, finite: a negative scale would make moves end before they start."""
    if not math.isfinite(value) or value < 0:
        raise click.BadParameter(
            f"{value:g}: give a finite factor of 0 or more (0.1: ten times faster)", ctx, param
        )
    return value


@click.group()
def sim() -> None:
    """Simulator tools."""


@sim.command()
@rig_option
@click.option(
    "--dir",
    "link_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/tmp/uvscope-emu"),
    show_default=True,
    help="Folder for the stable port names (fw102c, apt-bbd).",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    callback=_time_scale,
    help="Move durations are multiplied by this (0.1: ten times faster; 0 or more).",
)
@click.option(
    "--homed/--not-homed",
    default=True,
    show_default=True,
    help="Start the stage axes homed, as after a previous session.",
)
def serve(rig_path: Path | None, link_dir: Path, time_scale: float, homed: bool) -> None:
    """Serve an FW102C filter wheel and an APT BBD rack (X, Y, focus) on pseudo-terminals.

    The rig gives the wheel's positions, the rack's bays and the soft limits it flags.
    One server per --dir: a second one on the same folder is refused while the first runs
    (it would take over the port links under the first one's clients).
    """
    from uvscope.io.lock import FolderLock

    rig = load_rig(rig_path)
    lock = FolderLock(link_dir, "sim serve", create=True).acquire()  # FolderLocked: exit 2
    try:
        _serve(rig, link_dir, time_scale, homed)
    finally:
        lock.release()


def _serve(rig: RigConfig, link_dir: Path, time_scale: float, homed: bool) -> None:
    from uvscope.sim.serve import start_emulators

    emus = start_emulators(
        rig,
        link_dir=link_dir,
        time_scale=time_scale,
        start_homed=homed,
        start_mm=(55.0, 37.5),
        start_z_um=rig.sim.focus_z_um,
    )
    click.echo(f"FW102C filter wheel : {emus.wheel.path}  (115200 8N1, ASCII)")
    click.echo(
        f"APT BBD rack        : {emus.apt.path}  (115200 8N1 RTS/CTS, APT binary; "
        f"bays {', '.join(hex(b) for b in emus.apt.axes)})"
    )
    click.echo("Point a rig config at these ports (see examples/rig-emulated.toml). Ctrl-C stops.")
    try:
        while True:
            _idle()
    except KeyboardInterrupt:
        click.echo("stopping emulators")
    finally:
        if emus.apt.violations:
            click.echo(f"{len(emus.apt.violations)} requests outside the soft limits:", err=True)
            for v in emus.apt.violations[:10]:
                click.echo(f"  {v}", err=True)
        emus.stop()
