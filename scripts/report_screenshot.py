"""The printed report of a small simulated scan, as pictures of its A4 pages.

    PYTHONPATH=. python scripts/report_screenshot.py --out docs/screenshots

Scans a 4 x 5-tile region of the simulated smear with the shipped models (`uvscope scan`,
sample H-2026-0412 on slide SL-7731), then reviews it as a reviewer does in the window: the
first counted white cell reclassified as a blast (a critical finding), a WBC count of
7,400 /uL entered for the absolute counts, and a sign-off. Writes the report, prints it with
headless Chromium (A4, as `tests/report/_report_fixture.printed_pages` prints it) and renders
each page to report-page-N.png with poppler's pdftoppm; says how many pages it printed on.
Needs chromium and poppler-utils.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.analysis.review import REVIEWED_CSV, REVIEWED_FIELDS, sign_off  # noqa: E402
from uvscope.report.page import write_report  # noqa: E402

SCAN = """name = "slide-001"
save_raw = false
[sample]
id = "H-2026-0412"
slide_id = "SL-7731"
operator = "A. Operator"
[region]
center_mm = [42.5, 32.5]
rows = {rows}
columns = {columns}
[[wavelengths]]
nm = 260
exposure_ms = 50.0
[background]
frames = 4
dark_frames = 2
[analysis]
enabled = true
models = "default"
"""


def scan(root: Path, rows: int, columns: int) -> Path:
    """A finished, analysed scan of the simulated rig (`uvscope scan`)."""
    toml = root / "scan.toml"
    toml.write_text(SCAN.format(rows=rows, columns=columns))
    out = root / "slide-001"
    cmd = [sys.executable, "-m", "uvscope", "scan", "--config", str(toml), "--out", str(out)]
    subprocess.run([*cmd, "--quiet"], check=True)
    return out


def review(scan_dir: Path) -> str | None:
    """The first counted white cell called a blast by the reviewer; its id (None: no cell)."""
    with open(scan_dir / "analysis" / "cells.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("counted", "1") in ("1", "True", "true")]
    rows = [r for r in rows if r["cell_class"] not in ("dead", "")]
    if not rows:
        return None
    cell = rows[0]
    with open(scan_dir / REVIEWED_CSV, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REVIEWED_FIELDS)
        w.writerow(
            [cell["cell_id"], cell["tile"], cell.get("x_um", ""), cell.get("y_um", "")]
            + [cell["cell_class"], "blast"]
        )
    return cell["cell_id"]


def print_pages(report: Path, out: Path) -> list[Path]:
    """The report printed by headless Chromium (A4), each page as a PNG."""
    pdf = out / "report.pdf"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", report.as_uri()],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    for old in out.glob("report-page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(out / "report-page")], check=True)
    pdf.unlink()
    return sorted(out.glob("report-page-*.png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--columns", type=int, default=5)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="uvscope-report-"))
    scan_dir = scan(root, args.rows, args.columns)
    cell = review(scan_dir)
    sign_off(scan_dir, "A. Reviewer")
    report = write_report(scan_dir, wbc_per_ul=7400)
    pages = print_pages(report, args.out)
    print(f"blast: {cell}; {len(pages)} A4 pages: {', '.join(str(p) for p in pages)}")
    print(f"scan folder: {scan_dir}")


if __name__ == "__main__":
    main()
