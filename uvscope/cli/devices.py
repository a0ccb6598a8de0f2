"""``uvscope devices check``: connect to every device of a rig and say how each one is."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from uvscope.cli.options import rig_option
from uvscope.config import load_rig
from uvscope.drivers.base import Camera, Device, FilterWheel, FocusAxis, XYStage
from uvscope.errors import UvscopeError


@click.group()
def devices() -> None:
    """Check the devices of a rig."""


def describe(dev: Device) -> dict[str, Any]:
    """Identity and state of a connected device, as printable strings."""
    info = dev.info()
    row: dict[str, Any] = {"identity": " ".join(p for p in (info.model, info.serial and
                                                           f"s/n {info.serial}", info.firmware
                                                           and f"fw {info.firmware}") if p)}
    if isinstance(dev, XYStage):
        x, y = dev.position_mm()
        row["state"] = f"x {x:.4f} mm, y {y:.4f} mm"
    elif isinstance(dev, FocusAxis):
        row["state"] = f"z {dev.position_um():.2f} um"
    elif isinstance(dev, FilterWheel):
        nm = dev.wavelength_nm
        slot = dev.slot
        what = f"{nm} nm" if nm else ("dark" if slot == dev.dark_slot else "no filter")
        row["state"] = f"slot {slot} ({what})"
    elif isinstance(dev, Camera):
        lo, hi = dev.exposure_range_ms
        row["state"] = (f"{dev.width_px}x{dev.height_px} px, {dev.bit_depth} bit, "
                        f"exposure {lo:g}-{hi:g} ms")
    return row


def check_rig(config: Any, build: Any = None) -> list[tuple[str, str, str, str]]:
    """(device, backend, details, verdict) per device; every device is tried."""
    from uvscope.drivers.rig import build_rig

    try:
        rig = (build or build_rig)(config)
    except UvscopeError as err:
        return [("rig", "-", "", f"FAIL: {err}")]
    backends = {"camera": config.camera.backend, "filter_wheel": config.filter_wheel.backend,
                "stage": config.stage.backend, "focus": config.focus.backend}
    rows = []
    for name, dev in rig.devices.items():
        try:
            dev.connect()
            d = describe(dev)
            rows.append((name, backends[name], f"{d['identity']}; {d.get('state', '')}", "OK"))
        except UvscopeError as err:
            rows.append((name, backends[name], "", f"FAIL: {err}"))
        finally:
            try:
                dev.close()
            except UvscopeError as err:
                rows.append((name, backends[name], "", f"FAIL on close: {err}"))
    return rows


@devices.command()
@rig_option
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON on stdout.")
def check(rig_path: Path | None, as_json: bool = False) -> None:
    """Connect to every device; print identity, position, filter, exposure range, verdict."""
    config = load_rig(rig_path)
    rows = check_rig(config)
    if as_json:
        import json

        keys = ("device", "backend", "details", "verdict")
        click.echo(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2))
        if any(r[3] != "OK" for r in rows):
            sys.exit(1)
        return
    width = max(len(r[0]) for r in rows)
    for name, backend, details, verdict in rows:
        click.echo(f"{name:<{width}}  [{backend}]  {details}")
        click.secho(f"{'':<{width}}  -> {verdict}", fg="green" if verdict == "OK" else "red")
    failed = [r for r in rows if r[3] != "OK"]
    click.echo(f"{len(rows) - len(failed)} of {len(rows)} devices OK")
    if failed:
        sys.exit(1)
