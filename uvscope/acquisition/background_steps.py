"""Darks and backgrounds of one scan, as steps: taken, reloaded on resume, retaken on drift.

Files come first (each fsynced), the manifest entry last: the entry is what marks a
background done, so a kill in between leaves none recorded and a resume takes it again. The
drift monitor watches the tiles' clear-field level and the schedule, and says when the next
background is due; tiles name the background they were normalised with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from uvscope.acquisition.background import Backgrounds, acquire_backgrounds, acquire_darks
from uvscope.acquisition.drift import DriftDecision, DriftMonitor
from uvscope.acquisition.events import PrepStep, ScanEvents
from uvscope.acquisition.prep_progress import PrepReporter
from uvscope.acquisition.resume import ResumePoint, dark_path
from uvscope.acquisition.steps import BackgroundStep, DarkStep, ReloadBackgroundStep, ScanStep
from uvscope.acquisition.tiles import Tile
from uvscope.config import ScanConfig
from uvscope.drivers.rig import Rig
from uvscope.errors import ConfigError, ScanError
from uvscope.io.ome import ImageMeta, read_ome_tiff
from uvscope.io.scanfolder import ScanFolder, TileRecord

Log = Callable[..., None]


def _xy(value: object) -> tuple[float, float] | None:
    """A saved (x, y) position, or None."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (float(value[0]), float(value[1]))
    return None


def background_position_mm(rig: Rig, scan: ScanConfig) -> tuple[float, float]:
    """Where the first background is taken: the scan's ``[background] position_mm``, else
    the simulated slide's blank patch; a real rig without one is a ConfigError."""
    if scan.background.position_mm is not None:
        return scan.background.position_mm
    world = rig.world
    blank = getattr(world, "blank_position_mm", None) if world is not None else None
    if blank is not None:
        x_mm, y_mm = blank()
        return (float(x_mm), float(y_mm))
    raise ConfigError(
        "background.position_mm is not set: give the stage position of a blank region "
        "of the slide (no cells) for the background images"
    )


def _read_float32(path: Path) -> np.ndarray:
    return read_ome_tiff(path)[0].astype(np.float32)


class BackgroundKeeper:
    """The current darks and background of a scan, and when the next background is due."""

    def __init__(
        self,
        rig: Rig,
        scan: ScanConfig,
        folder: ScanFolder,
        events: ScanEvents,
        log: Log,
        point: ResumePoint | None = None,
    ) -> None:
        self.rig, self.scan, self.folder = rig, scan, folder
        self.events, self.log, self.point = events, log, point
        self._exposures_ms = {w.nm: w.exposure_ms for w in scan.wavelengths}
        self.current: Backgrounds | None = None
        self.drift: DriftMonitor | None = None
        #: a background the tiles call for, taken at the next safe point
        self.due: DriftDecision | None = None
        self.reloaded = False  # resumed with the saved background (not a new one)
        self._darks: dict[int, np.ndarray] = {}
        self._dark_id = "bg0"
        #: progress of the darks and the first background (the later ones are not a step
        #: of the preparation)
        self.prep = PrepReporter(events.preparing.emit)

    def normalise(self, nm: int, raw: np.ndarray) -> np.ndarray:
        return self.backgrounds().normalise(nm, raw)

    def backgrounds(self) -> Backgrounds:
        if self.current is None:
            raise ScanError("no background has been taken yet")
        return self.current

    # ------------------------------------------------------------------ the steps
    def first_steps(self) -> list[ScanStep]:
        """What the scan starts with: the resume's checked background, or darks (the
        resume's whole ones when it has them) and a new background."""
        point = self.point
        if point is not None and point.background is not None:
            return [ReloadBackgroundStep(point.background)]
        if point is not None and point.background_problem is not None:
            self.log(
                "damaged-background",
                f"saved background unusable "
                f"({point.background_problem}); taking a new one for the rest",
            )
        entries = self._entries()
        if entries and point is not None and point.darks_whole:  # reuse the checked darks
            return [DarkStep(str(entries[-1].get("dark_id", "bg0")), reuse=True), BackgroundStep()]
        return [DarkStep(f"bg{len(entries)}"), BackgroundStep()]

    def take_darks(self, step: DarkStep) -> None:
        folder, exposures = self.folder, self._exposures_ms
        self._dark_id = step.dark_id
        if step.reuse:
            self._darks = {
                nm: _read_float32(dark_path(folder, nm, step.dark_id)) for nm in exposures
            }
            return
        frames = self.scan.background.dark_frames
        takes = bool(frames) and self.rig.filter_wheel.dark_slot is not None
        on_nm = self._report(PrepStep.DARKS if takes else None)
        self._darks = acquire_darks(self.rig, exposures, frames, on_nm)
        if frames and not self._darks:  # the rig has no blocked slot: say what was not done
            self.log(
                "no-darks",
                f"background.dark_frames = {frames}, but the rig's filter_wheel.dark_slot is "
                "not set: no dark frames taken, tiles are normalised without dark subtraction",
            )
        for nm, img in self._darks.items():
            meta = ImageMeta(self.rig.pixel_size_um, None, exposures[nm], name=f"dark for {nm} nm")
            folder.write_image(dark_path(folder, nm, step.dark_id), img, meta)

    def take_background(self, step: BackgroundStep) -> None:
        """The first background (after the darks), or one taken again where the last was."""
        entries = self._entries()
        new_id = f"bg{len(entries)}"
        old, rig = self.current, self.rig
        pos_mm = (old.position_mm if old is not None else None) or self._position_mm()
        z_um = self._z_um(old)
        darks = old.dark if old is not None and step.due is not None else self._darks
        on_nm = self._report(PrepStep.BACKGROUND if step.due is None else None)
        bgs = acquire_backgrounds(
            rig,
            self._exposures_ms,
            self.scan.background.frames,
            pos_mm,
            z_um,
            darks,
            new_id,
            on_nm,
        )
        self._write(bgs, pos_mm, z_um)
        entries.append(self._entry(bgs, entries, pos_mm, z_um, step.due))
        self.folder.update_manifest(backgrounds=entries)
        if step.due is not None:
            self.log(
                "background",
                f"background {new_id} taken: {step.due.message}",
                id=new_id,
                reason=step.due.reason,
            )
        self.current = bgs
        if step.due is not None and self.drift is not None:
            self.drift.reset(rig.clock.now())

    def _report(self, step: PrepStep | None) -> Callable[[int], None]:
        """Begin ``step``'s progress (one item per wavelength); the per-wavelength callback
        that advances it (a no-op for None: no progress to report)."""
        if step is None:
            return lambda nm: None
        nms = list(self._exposures_ms)
        self.prep.begin(step, len(nms), f"{nms[0]} nm")

        def done(nm: int) -> None:
            i = nms.index(nm) + 1
            self.prep.advance(f"{nms[i]} nm" if i < len(nms) else "")

        return done

    def reload(self, step: ReloadBackgroundStep) -> None:
        """A checked background entry of the folder (the newest: the scan may have retaken
        it), with the darks the scan's first background recorded."""
        entry, folder = step.entry, self.folder
        bg_id = str(entry.get("id", "bg0"))
        dark_id = str(entry.get("dark_id", "bg0"))
        z = entry.get("z_um")
        bgs = Backgrounds(
            id=bg_id,
            position_mm=_xy(entry.get("position_mm")),
            z_um=float(z) if isinstance(z, (int, float)) else None,
        )
        first = (folder.read_manifest().get("backgrounds") or [{}])[0]
        for nm in self._exposures_ms:
            bgs.background[nm] = _read_float32(folder.background_path(nm, bg_id))
            if first.get("dark_frames", 0):
                bgs.dark[nm] = _read_float32(dark_path(folder, nm, dark_id))
        self.current = bgs
        self.reloaded = True

    # ------------------------------------------------------------------ drift
    def start_drift_monitor(self, done: Iterable[TileRecord]) -> None:
        """Watch the drift from now on; a resume carries over the schedule of the tiles
        already taken with the reloaded background."""
        drift = DriftMonitor(
            self.scan.background, self.scan.wavelengths[0].nm, self.rig.clock.now()
        )
        self.drift = drift
        if not self.reloaded:
            return
        bg_id = self.backgrounds().id
        taken = sorted(
            (float(r.extra.get("background_age_s", 0.0)), float(r.extra["clear_level"]))
            for r in done
            if r.background_id == bg_id and r.extra and "clear_level" in r.extra
        )  # in the order they were taken: the age grows tile by tile
        drift.restore([lv for _, lv in taken], taken[-1][0] if taken else 0.0, self.rig.clock.now())

    def check_schedule(self) -> None:
        """Before a tile: is a background due by the schedule (a resume may find it due)?"""
        if self.due is None and self.drift is not None:
            self.due = self.drift.schedule_due(self.rig.clock.now())

    def tile_taken(self, more_tiles: bool) -> None:
        """A tile's frames are triggered with the current background; with more tiles to
        come, check the schedule now so no extra tile slips in while this one reads out."""
        if self.drift is None:
            return
        self.drift.tile_taken()
        if more_tiles:
            self.check_schedule()

    def check_drift(self, tile: Tile) -> None:
        """Record the tile's clear-field level; note when a new background is due."""
        if self.drift is None:
            return
        level, due = self.drift.update(tile.normalised, self.rig.clock.now())
        tile.extra["clear_level"] = level
        tile.extra["background_age_s"] = round(self.drift.age_s(tile.acquired_at_s), 3)
        if due is not None and self.due is None:
            self.due = due

    def take_due(self) -> DriftDecision | None:
        due, self.due = self.due, None
        return due

    # ------------------------------------------------------------------ helpers
    def _entries(self) -> list[dict[str, Any]]:
        return list(self.folder.read_manifest().get("backgrounds") or [])

    def _z_um(self, old: Backgrounds | None) -> float:
        """The focus a background is taken at: the last background's, else the scan's."""
        if old is not None and old.z_um is not None:
            return old.z_um
        if old is None and self.scan.focus.z_um is not None:
            return self.scan.focus.z_um
        return self.rig.focus.position_um()

    def _position_mm(self) -> tuple[float, float]:
        return background_position_mm(self.rig, self.scan)

    def _write(self, bgs: Backgrounds, pos_mm: tuple[float, float], z_um: float) -> None:
        px_um = self.rig.pixel_size_um
        for nm, img in bgs.background.items():
            meta = ImageMeta(
                px_um,
                nm,
                self._exposures_ms[nm],
                pos_mm[0],
                pos_mm[1],
                z_um,
                f"background {bgs.id} {nm} nm",
            )
            self.folder.write_image(self.folder.background_path(nm, bgs.id), img, meta)
            self.events.background_acquired.emit(nm, img)

    def _entry(
        self,
        bgs: Backgrounds,
        entries: list[dict[str, Any]],
        pos_mm: tuple[float, float],
        z_um: float,
        due: DriftDecision | None,
    ) -> dict[str, Any]:
        """The manifest entry that marks ``bgs`` done."""
        frames = self.scan.background.frames
        stats = {str(k): v for k, v in bgs.stats().items()}
        if due is None:
            return {
                "id": bgs.id,
                "dark_id": self._dark_id,
                "position_mm": pos_mm,
                "z_um": z_um,
                "frames": frames,
                "dark_frames": self.scan.background.dark_frames if bgs.dark else 0,
                "stats": stats,
            }
        return {
            "id": bgs.id,
            "dark_id": str(entries[-1].get("dark_id", "bg0")) if entries else "bg0",
            "position_mm": pos_mm,
            "z_um": z_um,
            "frames": frames,
            "reason": due.reason,
            "message": due.message,
            "drift_percent": due.drift_percent,
            "stats": stats,
        }
