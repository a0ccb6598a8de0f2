"""``uvscope focus calibrate``: measure each wavelength's focal offset by autofocus."""

from __future__ import annotations

from pathlib import Path

import click

from uvscope.cli.options import rig_option
from uvscope.config import load_rig, load_toml, parse_model


@click.group()
def focus() -> None:
    """Focus tools."""


def _xy(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give a position as X,Y in mm, e.g. 42.5,32.5"
        ) from None
    return x, y


@focus.command()
@rig_option
@click.option(
    "--scan",
    "scan_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Scan TOML giving the wavelengths, exposures, region, background position "
    "and sweep settings. Default: the built-in multispectral example.",
)
@click.option(
    "--at",
    "at",
    multiple=True,
    help="Position X,Y (mm) to measure at; repeatable. "
    "Default: --points spread over the scan's region.",
)
@click.option(
    "--points",
    default=3,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Positions over the region when --at is not given.",
)
def calibrate(
    rig_path: Path | None, scan_path: Path | None, at: tuple[str, ...], points: int
) -> None:
    """Autofocus at each wavelength and print the scan's focus_offset_um values."""
    import tomllib
    from importlib import resources

    from uvscope.acquisition.autofocus import SweepSettings
    from uvscope.acquisition.background import acquire_backgrounds, acquire_darks
    from uvscope.acquisition.focus_map import choose_map_points
    from uvscope.acquisition.focus_offsets import measure_focus_offsets
    from uvscope.acquisition.plan import fov_mm, plan_tiles
    from uvscope.config import ScanConfig
    from uvscope.drivers.rig import build_rig

    if scan_path is None:
        text = resources.files("uvscope.examples").joinpath("scan-multispectral.toml")
        scan = parse_model(
            ScanConfig, tomllib.loads(text.read_text("utf-8")), "embedded scan-multispectral.toml"
        )
    else:
        scan = load_toml(ScanConfig, scan_path)
    rig_cfg = load_rig(rig_path)
    rig = build_rig(rig_cfg)
    exposures = {w.nm: w.exposure_ms for w in scan.wavelengths}
    f = scan.focus
    settings = SweepSettings(
        f.sweep_range_um, f.sweep_steps, f.fine_range_um, f.fine_steps, f.metric, f.min_contrast
    )
    rig.connect()
    try:
        if at:
            positions = [_xy(a) for a in at]
        else:
            cam = rig.camera  # connected: its image geometry as it runs (binning, ROI)
            plan = plan_tiles(
                scan, fov_mm(cam.width_px, cam.height_px, rig.pixel_size_um), rig_cfg.stage
            )
            positions = [(t.x_mm, t.y_mm) for t in choose_map_points(plan.tiles, points)]
        blank = scan.background.position_mm
        if blank is None and rig.world is not None and hasattr(rig.world, "blank_position_mm"):
            blank = tuple(rig.world.blank_position_mm())
        normalise = None
        z = f.z_um if f.z_um is not None else rig.focus.position_um()
        if blank is not None:
            darks = acquire_darks(rig, exposures, scan.background.dark_frames)
            bgs = acquire_backgrounds(rig, exposures, scan.background.frames, blank, z, darks)
            normalise = bgs.normalise
        else:
            click.echo(
                "no background.position_mm: focusing on raw frames (vignetting lowers "
                "the focus contrast)",
                err=True,
            )
        result = measure_focus_offsets(rig, exposures, positions, settings, normalise, z)
    finally:
        rig.close()
    click.echo(
        f"focal offsets from {result.reference_nm} nm at {len(result.points)} of "
        f"{len(positions)} positions:"
    )
    for nm, off in result.offsets_um.items():
        click.echo(f"  {nm} nm: {off:+.2f} um (spread {result.spread_um[nm]:.2f} um)")
    click.echo("\n# for the scan file:\n" + result.toml(exposures))
