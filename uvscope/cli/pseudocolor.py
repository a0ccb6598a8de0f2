"""`uvscope pseudocolor DIR`: Giemsa-like tiles, mosaic and staining pairs from a 3-nm scan."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("pseudocolor")
@click.argument("scan_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default SCAN_DIR/pseudocolor).",
)
@click.option("--no-pairs", is_flag=True, help="Do not write the staining training pairs.")
@click.option(
    "--ground-truth",
    is_flag=True,
    help="Also write OUT/groundtruth: the 260 nm tiles with colour-based initial cell and "
    "nucleus masks (images/ + masks/ + dataset.toml) to correct in napari and train on.",
)
def pseudocolor(scan_dir: Path, out: Path | None, no_pairs: bool, ground_truth: bool) -> None:
    """Register 280/300 nm to 260 nm, pseudocolour every tile and blend a mosaic."""
    from uvscope.models.pairs import pseudocolor_scan

    done = pseudocolor_scan(scan_dir, out, pairs=not no_pairs, ground_truth=ground_truth)
    click.echo(f"pseudocolour tiles, mosaic and pairs in {done}")
    if ground_truth:
        click.echo(f"initial masks to correct: {done / 'groundtruth'} (see its README.txt)")
