"""What a scan will cost before it starts: tiles, time, disk, and the white cells to expect.

A rough but honest model, so the operator can see a region is too small for a 100-cell
differential, or too large for the disk, before anything moves. Figures it rests on:

- device time per tile from the rig's own timing (stage velocity and acceleration, settle,
  exposure, readout, filter-wheel moves);
- the analysis, which runs beside the acquisition, at ``ANALYSIS_S_PER_TILE`` on a CPU
  (measured: see benchmarks/RESULTS.md, "Scan estimate"); on a GPU it is much faster, so the
  estimate is an upper bound there;
- bytes per pixel of what a scan writes (measured on the demo scan's folder);
- ``WBC_PER_MM2`` white cells per mm^2 of monolayer: 0.3-0.6 per 100x field (0.037 mm^2) of
  a normal smear, the figure the simulator's healthy donor uses. Real slides vary several-fold
  with the count and the smear, so the stop rule, not this number, ends a scan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from uvscope.acquisition.grow import scan_plan
from uvscope.acquisition.plan import fov_mm
from uvscope.config import RigConfig, ScanConfig

ANALYSIS_S_PER_TILE = 4.5
WBC_PER_MM2 = 12.0
#: bytes per camera pixel per wavelength: normalised float32 tile, stage mosaic share
TILE_BYTES_PER_PX = 4.0 + 3.5
RAW_BYTES_PER_PX = 2.0
#: per tile (not per wavelength): labels, stained tile, analysis mosaics
ANALYSIS_BYTES_PER_PX = 4.8


@dataclass(frozen=True)
class ScanEstimate:
    tiles: int
    rows: int
    columns: int
    area_mm2: float
    device_s: float
    total_s: float
    disk_bytes: int
    expected_wbc: float
    #: tiles the stop rule needs at WBC_PER_MM2 (None without a stop rule)
    tiles_for_stop: int | None
    #: a target-count scan: healthy WBCs to count, and the most tiles its area allows
    target_wbc: int | None = None
    reach_tiles: int = 0

    def text(self) -> str:
        """The estimate in one paragraph, as the form shows it."""
        if self.target_wbc is not None:
            return self._target_text()
        parts = [
            f"{self.tiles} tiles ({self.rows} x {self.columns}), {self.area_mm2:.2f} mm²",
            f"about {_duration(self.total_s)}",
            f"{self.disk_bytes / 1e9:.2f} GB on disk",
            f"~{self.expected_wbc:.0f} WBCs expected at {WBC_PER_MM2:g}/mm² (normal smear)",
        ]
        text = "; ".join(parts)
        if self.tiles_for_stop is not None:
            if self.tiles_for_stop > self.tiles:
                text += (
                    f". The stop rule needs ~{self.tiles_for_stop} tiles at that density: "
                    "the region may end before it is reached"
                )
            else:
                text += f". The stop rule is likely reached after ~{self.tiles_for_stop} tiles"
        return text + "."

    def _target_text(self) -> str:
        """A target-count scan: the tiles the target needs at a normal smear's density."""
        text = (
            f"Count {self.target_wbc} WBCs: ~{self.tiles} tiles, {self.area_mm2:.1f} mm² at "
            f"{WBC_PER_MM2:g} WBC/mm² (a normal smear), about {_duration(self.total_s)}, "
            f"{self.disk_bytes / 1e9:.2f} GB on disk"
        )
        if self.tiles_for_stop is not None and self.tiles_for_stop > self.reach_tiles:
            text += (
                f". The maximum area ({self.reach_tiles} tiles) holds only "
                f"~{self.expected_wbc:.0f} WBCs at that density"
            )
        return text + ". Refined from the density the first tiles show once scanning."


def _duration(s: float) -> str:
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {sec:02d} s" if m else f"{sec} s")


def _move_s(distance_mm: float, velocity: float, accel: float) -> float:
    """A trapezoidal (or triangular) move's duration."""
    if distance_mm <= 0:
        return 0.0
    d_acc = velocity * velocity / accel
    if distance_mm < d_acc:
        return 2.0 * math.sqrt(distance_mm / accel)
    return distance_mm / velocity + velocity / accel


def estimate_scan(
    scan: ScanConfig, rig: RigConfig, analysis_s: float = ANALYSIS_S_PER_TILE
) -> ScanEstimate:
    """Estimate ``scan`` on ``rig`` (raises LimitError as planning does for a bad region)."""
    cam, stage = rig.camera, rig.stage
    fov = fov_mm(cam.width_px, cam.height_px, cam.pixel_size_um)
    plan = scan_plan(scan, fov, rig)
    step_area = (plan.step_mm[0] * plan.step_mm[1]) or fov[0] * fov[1]
    stop = scan.stop_after_wbc if scan.analysis.enabled else None
    tiles_for_stop = math.ceil(stop / (WBC_PER_MM2 * step_area)) if stop else None
    reach = len(plan.tiles)
    n = reach if tiles_for_stop is None or scan.target is None else min(tiles_for_stop, reach)
    nw = len(scan.wavelengths)
    step = max(plan.step_mm)
    move = _move_s(step, stage.velocity_mm_s, stage.acceleration_mm_s2) + stage.settle_ms / 1e3
    frames = sum(w.exposure_ms + cam.readout_ms for w in scan.wavelengths) / 1e3
    wheel = (nw - 1) * rig.filter_wheel.move_ms_per_slot / 1e3
    per_tile = move + frames + wheel
    bg = scan.background
    background = sum(
        (bg.frames + bg.dark_frames) * (w.exposure_ms + cam.readout_ms) / 1e3
        for w in scan.wavelengths
    )
    device = n * per_tile + background
    analysed = scan.analysis.enabled
    # the analysis runs beside the acquisition: the slower of the two sets the pace
    total = background + n * (max(per_tile, analysis_s) if analysed else per_tile)
    px = cam.width_px * cam.height_px
    per_px = nw * (TILE_BYTES_PER_PX + (RAW_BYTES_PER_PX if scan.save_raw else 0.0))
    if analysed:
        per_px += ANALYSIS_BYTES_PER_PX
    x0, y0, x1, y1 = plan.bounds_mm
    area = (x1 - x0) * (y1 - y0) if scan.target is None else n * step_area
    return ScanEstimate(
        tiles=n,
        rows=plan.rows,
        columns=plan.columns,
        area_mm2=area,
        device_s=device,
        total_s=total,
        disk_bytes=int(n * px * per_px),
        expected_wbc=area * WBC_PER_MM2,
        tiles_for_stop=tiles_for_stop,
        target_wbc=scan.target.wbc if scan.target is not None else None,
        reach_tiles=reach,
    )
