"""Feeds the slide overview from the set-up: the region it would scan, its first tile, and
the earlier scans of the same slide (same slide id, in the worklist folder or beside the
scan's output folder). Kept apart from the window so each piece stays readable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from uvscope.acquisition.plan import GridPlan
from uvscope.config import ScanConfig, parse_model
from uvscope.errors import UvscopeError
from uvscope.gui.scan_form import ScanForm
from uvscope.gui.slide_overview import EarlierScan, SlideOverview, earlier_scans


class OverviewFeed(QObject):
    """Redraws the planned region after each set-up edit (debounced by the form's
    ``changed``); re-reads earlier scans only when the slide id or the folders change."""

    def __init__(
        self,
        overview: SlideOverview,
        form: ScanForm,
        plan: Callable[[ScanConfig], GridPlan],
        worklist_folder: Callable[[], Path | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.overview, self.form, self.plan = overview, form, plan
        self.worklist_folder = worklist_folder
        self._earlier_key: tuple[object, ...] | None = None
        form.changed.connect(self.refresh)

    def refresh(self) -> None:
        """The set-up's region on the map; none while the set-up is not valid (its fields
        say why) or the region leaves the soft limits (the estimate says so)."""
        try:
            cfg = parse_model(ScanConfig, self.form.data(), "scan set-up")
            plan = self.plan(cfg)
        except UvscopeError:
            self.overview.set_plan(None, (0.0, 0.0))
            return
        self.show_plan(plan)
        self.refresh_earlier(cfg)

    def show_plan(self, plan: GridPlan) -> None:
        first = plan.tiles[0]
        self.overview.set_plan(plan.bounds_mm, (first.x_mm, first.y_mm))

    def refresh_earlier(self, cfg: ScanConfig) -> None:
        out = Path(cfg.output_dir) if cfg.output_dir is not None else None
        roots = [r for r in (self.worklist_folder(), out.parent if out else None) if r]
        key = (cfg.sample.slide_id, tuple(roots), out)
        if key == self._earlier_key:
            return
        self._earlier_key = key
        found: dict[Path, EarlierScan] = {}
        for root in roots:
            for scan in earlier_scans(Path(root), cfg.sample.slide_id, exclude=out):
                found.setdefault(scan.folder.resolve(), scan)
        self.overview.set_earlier(list(found.values()))

    def forget(self) -> None:
        """A scan ended (a new folder of this slide may exist): read the scans again."""
        self._earlier_key = None
        self.refresh()
