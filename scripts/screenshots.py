"""Screenshots of the operator's window on the simulated rig, for the README and for review.

    xvfb-run -a -s "-screen 0 1920x1080x24" env PYTHONPATH=. python scripts/screenshots.py
    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python scripts/screenshots.py   # no X server

Under an X server (Xvfb or a desktop) the window is sized for the screen as ``uvscope gui``
sizes it and each picture is taken from the X server itself (ImageMagick's ``import`` where
installed, else Qt's screen grab), so it shows what an operator sees. Without one it renders
offscreen at --size. It connects the simulated rig, shows the live view, fills the scan set-up
form, runs a small scan (with analysis when the trained models are installed) and grabs each
main view: the review with the least confident cell selected, the review signed off, and the
report printed by headless Chromium (report.pdf, report-page-N.png; needs chromium and
poppler-utils). Give Xvfb a smaller screen (e.g. 1366x768x24) to see the window on a laptop.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from uvscope.acquisition.events import RunState  # noqa: E402
from uvscope.config import RegionConfig, SampleConfig, ScanConfig, load_rig  # noqa: E402
from uvscope.drivers.rig import build_rig  # noqa: E402
from uvscope.gui import priority  # noqa: E402
from uvscope.gui.main_window import MainWindow  # noqa: E402


def wait(app: QApplication, cond, timeout_s: float) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.01)
    return False


def settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def on_x_server(app: QApplication) -> bool:
    return app.platformName() in ("xcb", "wayland")


def show_window(app: QApplication, win: QWidget, size: str) -> None:
    """Open ``win`` as `uvscope gui` does (maximised on its screen) under an X server, else
    offscreen at ``size`` ("WIDTHxHEIGHT"); return once the stage has reported where it is."""
    if on_x_server(app):
        win.show_on_start_screen()  # type: ignore[attr-defined]
    else:
        win.resize(*(int(v) for v in size.lower().split("x")))
        win.show()
    wait(app, lambda: win.panel.position is not None, 30)  # type: ignore[attr-defined]


def grab(app: QApplication, widget: QWidget, path: Path) -> None:
    """The window as the display server shows it, or Qt's rendering offscreen."""
    settle(app)
    if on_x_server(app) and app.platformName() == "xcb" and shutil.which("import"):
        # ImageMagick reads the screen's pixels from the X server (popups included)
        g = widget.window().frameGeometry()
        crop = f"{g.width()}x{g.height()}+{g.x()}+{g.y()}"
        subprocess.run(["import", "-window", "root", "-crop", crop, str(path)], check=True)
        how = "X server (import)"
    elif on_x_server(app):
        screen = widget.screen()
        g = widget.window().frameGeometry()
        screen.grabWindow(0, g.x(), g.y(), g.width(), g.height()).save(str(path))
        how = "X server (Qt screen grab)"
    else:
        widget.window().grab().save(str(path))
        how = "offscreen rendering"
    print(f"wrote {path} ({how})")


def print_report(report: Path, out: Path) -> None:
    """The report as Chromium prints it (A4), its first page as a PNG for the README."""
    chromium, pdftoppm = shutil.which("chromium"), shutil.which("pdftoppm")
    if not report.exists() or chromium is None or pdftoppm is None:
        print("no report picture: needs the report, chromium and pdftoppm (poppler-utils)")
        return
    pdf = out / "report.pdf"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", report.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    subprocess.run([pdftoppm, "-r", "70", "-png", str(pdf), str(out / "report-page")], check=True)
    pages = sorted(out.glob("report-page-*.png"))
    print(f"wrote {pdf} ({len(pages)} pages) and {', '.join(p.name for p in pages)}")


def bench_views(app: QApplication, win: MainWindow, scan_dir: Path, out: Path) -> None:
    """The lab-bench views: the worklist of the scan folder, the scan reopened from it for
    review (no rig needed), and the operator's guide under Help."""
    dialog = win.show_worklist(scan_dir.parent)
    settle(app, 0.5)
    grab(app, dialog, out / "worklist.png")
    dialog._open_row(0)  # as a double-click does
    wait(app, lambda: "tiles and" in win.statusBar().currentMessage(), 120)
    grab(app, win, out / "review-reopened.png")
    help_dialog = win.show_help()
    settle(app, 0.5)
    grab(app, help_dialog, out / "help.png")
    help_dialog.close()


def _models_available() -> bool:
    """Analysis screenshots need the trained models (uvscope train); skip them otherwise."""
    try:
        from uvscope.analysis.models import load_models

        load_models(device="cpu")
    except Exception as err:  # noqa: BLE001 - reported, the other views are still taken
        print(f"no analysis screenshots: {err}")
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--columns", type=int, default=4)
    ap.add_argument(
        "--size", default="1500x900", help="window size (offscreen; on a screen: at most)"
    )
    ap.add_argument(
        "--no-analysis", action="store_true", help="scan without analysis even with models"
    )
    ap.add_argument(
        "--center-mm",
        type=float,
        nargs=2,
        default=None,
        help="centre of the scan region (default: where the stage is)",
    )
    ap.add_argument(
        "--analysis-nice",
        type=int,
        default=None,
        help="OS priority drop of the analysis threads (the window's default starves them "
        "on a busy machine, and the screenshots wait for the analysis)",
    )
    args = ap.parse_args()
    if args.analysis_nice is not None:
        import functools

        import uvscope.gui.main_window as mw

        mw.lower_analysis_threads = functools.partial(  # type: ignore[assignment]
            priority.lower_analysis_threads, args.analysis_nice
        )
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    from uvscope.gui.app import prepare_application

    prepare_application(app)  # as `uvscope gui` does before its window opens
    print(f"Qt platform: {app.platformName()}")
    rig = build_rig(load_rig(None))
    scan_dir = Path(tempfile.mkdtemp(prefix="uvscope-shots-")) / "slide-001"
    win = MainWindow(rig, live_on_connect=True, ask=lambda *a: True)
    show_window(app, win, args.size)
    print(f"window {win.width()} x {win.height()}")

    # live view
    wait(app, lambda: win.live.frames_shown > 8, 60)
    win.tabs.setCurrentIndex(0)
    # the cursor's stage position, as if the mouse rested on the image
    win.live._on_mouse(win.live.vb.mapViewToScene(QPointF(900, 400)))
    grab(app, win, args.out / "live-view.png")
    # 280 nm at the 260 nm exposure: saturated, painted red; then Auto exposure
    shown = win.live.frames_shown
    win.live.wl_buttons[280].click()
    wait(app, lambda: win.live.frames_shown > shown + 3 and win.live.saturated_px > 0, 60)
    grab(app, win, args.out / "live-saturated.png")
    win.live.auto_exposure_button.click()
    wait(app, lambda: "auto exposure 280 nm" in win.statusBar().currentMessage(), 60)
    shown = win.live.frames_shown
    wait(app, lambda: win.live.frames_shown > shown + 3, 30)
    grab(app, win, args.out / "live-auto-exposed.png")
    win.live.wl_buttons[260].click()
    wait(app, lambda: win.live_session.wavelength_nm == 260, 30)

    # scan set-up
    x, y, _ = win.panel.position
    if args.center_mm is not None:
        x, y = args.center_mm
    analysis = (
        not args.no_analysis and win.controller.analysis_factory is not None and _models_available()
    )
    scan = ScanConfig(
        name="slide-001",
        region=RegionConfig(center_mm=(x, y), rows=args.rows, columns=args.columns),
        output_dir=scan_dir,
        save_raw=False,
        sample=SampleConfig(id="H-2026-0412", slide_id="SL-7731", operator="A. Operator"),
    ).replace(analysis={"enabled": analysis}, background={"frames": 4, "dark_frames": 2})
    win.form.set_config(scan)
    win.left_tabs.setCurrentIndex(1)
    grab(app, win, args.out / "scan-setup.png")
    area = win.left_tabs.currentWidget()  # the form's scroll area: its analysis section
    area.verticalScrollBar().setValue(area.verticalScrollBar().maximum())
    win.form.models.showPopup()
    grab(app, win, args.out / "scan-setup-analysis.png")
    win.form.models.hidePopup()
    area.verticalScrollBar().setValue(0)

    # scan
    win.left_tabs.setCurrentIndex(0)
    win.start_scan()
    total = args.rows * args.columns
    wait(app, lambda: len(win.scan_view.mosaic.tiles) >= total // 2, 300)
    grab(app, win, args.out / "scan-running.png")
    wait(
        app,
        lambda: win.scan_view.state in (RunState.FINISHED, RunState.FAILED, RunState.ABORTED),
        900,
    )
    wait(app, lambda: len(win.scan_view.mosaic.tiles) >= total, 30)
    grab(app, win, args.out / "scan-mosaic-gray.png")
    if analysis:
        # the analysis finishes after the last tile: wait for every tile's result
        tiles = win.scan_view.mosaic.tiles
        wait(app, lambda: all("stained" in t.images for t in tiles.values()), 300)
        win.scan_view.mode_buttons["stained"].setChecked(True)
        grab(app, win, args.out / "scan-mosaic-stained.png")
        win.tabs.setCurrentWidget(win.results)
        # review: the least confident neutrophil selected (enlarged, located), then signed off
        gallery = win.results.gallery
        cls = max(("neutrophil", "lymphocyte", "monocyte"), key=gallery.count)
        if gallery.count(cls):
            gallery.select(gallery.order(cls)[0])
            gallery.lists[cls].setFocus()
        grab(app, win, args.out / "cells-and-differential.png")
        win.results.operator_edit.setText("A. Reviewer")
        win.results.sign_off()
        wait(app, lambda: "report written" in win.results.saved_label.text(), 120)
        grab(app, win, args.out / "review-signed-off.png")
        print_report(scan_dir / "analysis" / "report.html", args.out)
        # a cell clicked in the gallery: the mosaic zooms to it, class-coloured outlines on
        win.scan_view.mode_buttons["outlines"].setChecked(True)
        cells = [c for c in win.results.cells.values() if c.cls != "dead"]
        if cells:
            win.results.cell_activated.emit(cells[0])
            settle(app, 0.5)  # the finer level of the tiles now in view
            grab(app, win, args.out / "scan-mosaic-outlines.png")  # with "Back to review"
            win.back_to_review()
            # after the sign-off the reviewer calls a cell a blast: critical finding, the
            # sign-off voided, the reclassified thumbnail tabbed
            win.results.gallery.reclassify(cells[-1].cell_id, "blast")
            win.results.gallery.select(cells[-1].cell_id)
            win.results.wbc_count.setValue(7400)
            grab(app, win, args.out / "review-critical-finding.png")
        bench_views(app, win, scan_dir, args.out)
    win.close()
    settle(app, 0.5)


if __name__ == "__main__":
    main()
