"""Options several commands share, declared once so their meaning and help stay the same."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from uvscope.config import RIG_ENV, SIM_RIG, default_rig, load_rig
from uvscope.errors import ConfigError


def _resolve_rig(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """The rig file to use, said on stderr: a path, ``sim`` (asked for the simulator), or
    None (nothing configured: the simulator, or for ``scan --resume`` the folder's rig)."""
    path: Path | None
    if value is None and ctx.params.get("resume") is not None:
        # scan --resume drives the rig its folder recorded: a rig named by the environment
        # or the user config never silently replaces it (only --rig, checked against it)
        click.echo("rig: the one recorded in the scan folder's manifest", err=True)
        return None
    if value is not None:
        # "sim": load_rig gives the simulated rig, whatever this PC is configured for
        path, source = Path(value), ("--rig sim" if value == SIM_RIG else "--rig")
    else:
        try:
            path, source = default_rig()
        except ConfigError as err:
            raise click.BadParameter(str(err), ctx, param) from None
    try:
        name = load_rig(path).name
    except ConfigError as err:
        raise click.BadParameter(f"{err} (rig from {source})", ctx, param) from None
    builtin = path is None or str(path) == SIM_RIG
    where = (
        ("built-in" if path is None and value is None else f"built-in, {source}")
        if builtin
        else f"{path}, from {source}"
    )
    click.echo(f"rig: {name} ({where})", err=True)
    return path


rig_option = click.option(
    "--rig",
    "rig_path",
    type=click.Path(dir_okay=False),
    callback=_resolve_rig,
    help=f"Rig TOML, or 'sim' for the built-in simulated rig. Default: ${RIG_ENV}, else "
    'rig = "..." in ~/.config/uvscope/config.toml ($XDG_CONFIG_HOME), else the simulated '
    "rig. The rig in use is printed first.",
)


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` and ``inf``: click lets ``nan``
    through every range (every comparison with it is false)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if isinstance(rv, float) and not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv
