"""``uvscope gui``: the operator's window (simulated rig by default)."""

from __future__ import annotations

from pathlib import Path

import click

from uvscope.cli.options import rig_option
from uvscope.config import load_rig, load_scan
from uvscope.errors import DeviceNotFound


@click.command("gui")
@rig_option
@click.option(
    "--scan",
    "scan_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scan TOML to load into the set-up form (default: the demo scan set to count 200 "
    "healthy WBCs from the region's centre).",
)
@click.option(
    "--lab",
    "lab_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Lab settings TOML (identity required, reference intervals); default "
    "$UVSCOPE_LAB or ~/.config/uvscope/lab.toml when present.",
)
@click.option(
    "--real-time/--virtual-time",
    default=None,
    help="Simulated devices: run at real speed (default for the built-in rig) or on "
    "a virtual clock.",
)
def gui(
    rig_path: Path | None, scan_path: Path | None, lab_path: Path | None, real_time: bool | None
) -> None:
    """Open the operator's window: live view, devices, scan set-up, mosaic and cells."""
    rig = load_rig(rig_path)
    if real_time is None:
        real_time = True if rig_path is None else rig.sim.real_time
    rig = rig.replace(sim=rig.sim.replace(real_time=real_time))
    scan = load_scan(scan_path)  # the demo scan (analysis on) when none is given, as `scan`
    if scan_path is None:  # the bench's way to scan: count 200 healthy WBCs from the centre
        scan = scan.replace(target={"wbc": 200})
    try:
        from uvscope.gui.app import run
        from uvscope.gui.lab_settings import load_lab_settings
    except ImportError as err:
        raise DeviceNotFound(
            f"the GUI needs PySide6 and pyqtgraph ({err}); install them with "
            "`pip install uvscope[gui]`"
        ) from None
    lab = load_lab_settings(lab_path)  # a bad file: one line naming the field, exit 2
    raise SystemExit(run(rig, scan, lab))
