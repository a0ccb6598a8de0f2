"""``uvscope devices check`` and ``devices home``: how each device of a rig is, and homing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from uvscope.cli.options import FiniteFloatRange, rig_option
from uvscope.config import load_rig
from uvscope.drivers.base import Camera, Device, FilterWheel, FocusAxis, XYStage
from uvscope.errors import UvscopeError


@click.group()
def devices() -> None:
    """Check the devices of a rig, and home its stage and focus."""


def homed_text(dev: XYStage | FocusAxis) -> str:
    homed = dev.is_homed()
    return "homed" if homed else "NOT HOMED" if homed is False else "homing not reported"


def homing_verdict(name: str, dev: Device, rig_path: Path | None) -> str | None:
    """What ``scan`` would say about an unhomed axis, and how to fix it; None when fine."""
    if isinstance(dev, XYStage):
        unhomed = [a for a, h in dev.homed_axes().items() if h is False]
        what = f"stage {unhomed[0]} axis" if unhomed else ""
    elif isinstance(dev, FocusAxis):
        what = "focus" if dev.is_homed() is False else ""
    else:
        return None
    if not what:
        return None
    rig_arg = f" --rig {rig_path}" if rig_path else ""
    return (
        f"NOT HOMED: a scan would refuse to move ({what} is not homed); home it with "
        f"`uvscope devices home{rig_arg}`"
    )


def describe(dev: Device) -> dict[str, Any]:
    """Identity and state of a connected device, as printable strings."""
    info = dev.info()
    row: dict[str, Any] = {
        "identity": " ".join(
            p
            for p in (
                info.model,
                info.serial and f"s/n {info.serial}",
                info.firmware and f"fw {info.firmware}",
            )
            if p
        )
    }
    if isinstance(dev, XYStage):
        x, y = dev.position_mm()
        row["state"] = f"x {x:.4f} mm, y {y:.4f} mm, {homed_text(dev)}"
    elif isinstance(dev, FocusAxis):
        row["state"] = f"z {dev.position_um():.2f} um, {homed_text(dev)}"
    elif isinstance(dev, FilterWheel):
        nm = dev.wavelength_nm
        slot = dev.slot
        what = f"{nm} nm" if nm else ("dark" if slot == dev.dark_slot else "no filter")
        row["state"] = f"slot {slot} ({what})"
    elif isinstance(dev, Camera):
        lo, hi = dev.exposure_range_ms
        row["state"] = (
            f"{dev.width_px}x{dev.height_px} px, {dev.bit_depth} bit, exposure {lo:g}-{hi:g} ms"
        )
    return row


def check_rig(
    config: Any, build: Any = None, rig_path: Path | None = None
) -> list[tuple[str, str, str, str]]:
    """(device, backend, details, verdict) per device; every device is tried. An axis that
    must be homed and is not gets the verdict ``scan`` would give, not OK."""
    from uvscope.drivers.rig import build_rig

    try:
        rig = (build or build_rig)(config)
    except UvscopeError as err:
        return [("rig", "-", "", f"FAIL: {err}")]
    backends = {
        "camera": config.camera.backend,
        "filter_wheel": config.filter_wheel.backend,
        "stage": config.stage.backend,
        "focus": config.focus.backend,
    }
    rows = []
    for name, dev in rig.devices.items():
        try:
            dev.connect()
            d = describe(dev)
            verdict = homing_verdict(name, dev, rig_path) or "OK"
            rows.append((name, backends[name], f"{d['identity']}; {d.get('state', '')}", verdict))
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
    rows = check_rig(config, rig_path=rig_path)
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


@devices.command()
@rig_option
@click.option(
    "--axis",
    "axes",
    multiple=True,
    type=click.Choice(["x", "y", "z", "focus", "all"]),
    help="Axis to home (repeatable): x, y, z (focus) or all. Default: all.",
)
@click.option(
    "--clearance-um",
    type=FiniteFloatRange(min=0),
    default=1000.0,
    show_default=True,
    help="Before X/Y home, lower the focus by this much (inside its soft limits) "
    "so the objective clears the slide; not needed when z is homed too.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def home(rig_path: Path | None, axes: tuple[str, ...], clearance_um: float, yes: bool) -> None:
    """Home the stage and focus: each axis runs to its reference switch.

    The focus is homed (or lowered by --clearance-um) before X and Y, and the plan is shown
    for confirmation before anything moves.
    """
    from uvscope.drivers import homing
    from uvscope.drivers.rig import build_rig

    config = load_rig(rig_path)
    try:
        order = homing.parse_axes(list(axes))
        rig = build_rig(config)
        rig.stage.connect()
        rig.focus.connect()
    except UvscopeError as err:
        raise click.ClickException(str(err)) from None
    try:
        plan = homing.plan_homing(rig.stage, rig.focus, order, clearance_um)
        click.echo(f"Homing on {config.name}:")
        for i, step in enumerate(plan.steps, 1):
            click.echo(f"  {i}. {step}")
        for warning in plan.warnings:
            click.secho(f"  ! {warning}", fg="yellow")
        if not yes:
            click.confirm("Nothing must be in the stage's way. Home now?", abort=True)
        result = homing.home(rig.stage, rig.focus, plan)
    except UvscopeError as err:
        raise click.ClickException(f"homing failed: {err}") from None
    finally:
        for dev in (rig.focus, rig.stage):
            try:
                dev.close()
            except UvscopeError as err:
                click.echo(f"closing {dev.kind}: {err}", err=True)
    x, y = result.position_mm or (float("nan"), float("nan"))
    states = ", ".join(f"{a} {homing_state(result.homed.get(a))}" for a in ("x", "y", "z"))
    click.echo(f"done: {states}; stage at x {x:.4f} mm, y {y:.4f} mm, focus {result.z_um:.2f} um")


def homing_state(homed: bool | None) -> str:
    return "homed" if homed else "NOT homed" if homed is False else "(not reported)"
