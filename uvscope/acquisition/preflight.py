"""Every check a scan's settings allow against the connected rig, made before anything is
written.

A setting the devices would refuse mid-run (an exposure the camera cannot take, a focus
outside the soft limits, a background off the stage) used to stop the scan after its folder
and manifest existed, leaving a folder that neither ``--resume`` nor ``scan --out`` could
use. These checks ask the same device-side limits (the drivers' own ``check_limits`` and
ranges) before the folder is claimed, so a refused scan creates nothing.
"""

from __future__ import annotations

from uvscope.acquisition.acquirer import focus_deltas_um
from uvscope.acquisition.background_steps import background_position_mm
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.errors import ConfigError, LimitError


def check_scan_on_rig(scan: ScanConfig, rig: Rig) -> None:
    """Raise ConfigError or LimitError naming the scan-file field a connected ``rig`` cannot
    do (the tile grid itself is checked against the stage limits by ``plan_tiles``)."""
    _check_exposures(scan, rig)
    _check_filters(scan, rig)
    _check_focus(scan, rig)
    _check_background(scan, rig)


def _check_exposures(scan: ScanConfig, rig: Rig) -> None:
    lo, hi = rig.camera.exposure_range_ms
    for i, w in enumerate(scan.wavelengths):
        if not lo <= w.exposure_ms <= hi:
            raise ConfigError(
                f"wavelengths.{i}.exposure_ms = {w.exposure_ms:g} ({w.nm} nm) is outside the "
                f"camera's {lo:g}-{hi:g} ms; nothing was written"
            )


def _check_filters(scan: ScanConfig, rig: Rig) -> None:
    wheel = rig.filter_wheel
    for i, w in enumerate(scan.wavelengths):
        if w.nm not in wheel.slots:
            raise ConfigError(
                f"wavelengths.{i}.nm = {w.nm}: the rig's filter wheel has no filter for it "
                f"(filter_wheel.slots: {sorted(wheel.slots)} nm); nothing was written"
            )


def _check_focus(scan: ScanConfig, rig: Rig) -> None:
    nms = [w.nm for w in scan.wavelengths]
    focus_nm = scan.focus.wavelength_nm
    if focus_nm is not None and focus_nm not in nms:
        raise ConfigError(
            f"focus.wavelength_nm = {focus_nm} is not one of the scan's wavelengths {nms}; "
            "focus at a wavelength the scan images (nothing was written)"
        )
    z_um = scan.focus.z_um
    if z_um is None:
        return  # the current focus, inside the limits by construction
    for nm, delta_um in focus_deltas_um(scan).items():
        try:
            rig.focus.check_limits(z_um + delta_um)
        except LimitError as err:
            at = f" at {nm} nm (focus_offset_um)" if delta_um else ""
            raise LimitError(f"focus.z_um = {z_um:g}{at}: {err}; nothing was written") from None


def _check_background(scan: ScanConfig, rig: Rig) -> None:
    x_mm, y_mm = background_position_mm(rig, scan)
    try:
        rig.stage.check_limits(x_mm, y_mm)
    except LimitError as err:
        raise LimitError(
            f"background.position_mm = [{x_mm:g}, {y_mm:g}]: {err}; nothing was written"
        ) from None
