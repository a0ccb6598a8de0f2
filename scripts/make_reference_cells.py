"""Write the built-in reference cells (uvscope/models/reference_images/<class>/*.jpg).

Typical simulated cells of each class with their true class, as the gallery shows a cell
(stained crop beside the 260 nm crop), a few KB each; see uvscope.models.reference_render.

    PYTHONPATH=. python scripts/make_reference_cells.py [--per-class 4] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uvscope.models.reference_cells import (  # noqa: E402
    BUILTIN_DIR,
    PER_CLASS,
    write_reference_folder,
)
from uvscope.models.reference_render import render_reference_cells  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=BUILTIN_DIR)
    ap.add_argument("--per-class", type=int, default=PER_CLASS)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    images = render_reference_cells(args.per_class, args.seed)
    if args.out.exists():
        shutil.rmtree(args.out)
    files = write_reference_folder(images, args.out)
    total_kb = sum(f.stat().st_size for f in files) / 1024
    for cls, crops in sorted(images.items()):
        print(f"{cls:20s} {len(crops)}")
    print(f"{len(files)} files, {total_kb:.0f} KB in {args.out}")


if __name__ == "__main__":
    main()
