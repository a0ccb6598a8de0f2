"""Options several commands share, declared once so their meaning and help stay the same."""

from __future__ import annotations

from pathlib import Path

import click

rig_option = click.option(
    "--rig",
    "rig_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rig TOML. Default: the built-in simulated rig.",
)
