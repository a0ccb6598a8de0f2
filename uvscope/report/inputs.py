"""Every file the report reads, checked before a byte of the report is written.

A report is a document a lab signs, so it is never written from nothing: the scan's
``manifest.json``, the analysis's ``differential.json`` and ``cells.csv`` must be there and
whole, every class in the cell table must be one uvscope knows (``uvscope.classes`` and the
review classes), and the reviewed labels, when there are any, must read. Each refusal names
the file and says what to do (``StorageError``, exit status 2 at the CLI).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from uvscope.analysis.review import (
    REVIEW_CLASSES,
    reviewed_labels,
)
from uvscope.classes import ALL_CLASSES, IMMATURE_GRANULOCYTES, PRECLASSES, RBC_CLASSES
from uvscope.errors import StorageError

#: every class name a cell table may hold
KNOWN_CLASSES = frozenset(
    (*ALL_CLASSES, *PRECLASSES, *IMMATURE_GRANULOCYTES, *RBC_CLASSES, *REVIEW_CLASSES)
)
#: the cell table's columns the report reads
CELL_COLUMNS = ("cell_id", "tile", "cell_class")


def _reanalyse(path: Path, what: str, scan_dir: Path) -> StorageError:
    return StorageError(
        f"{path} is {what}; re-run `uvscope analyze {scan_dir}` to write the analysis again"
    )


def check_differential(path: Path, scan_dir: Path) -> dict[str, Any]:
    """differential.json as the analysis writes it."""
    if not path.is_file():
        raise StorageError(
            f"{scan_dir} has no analysis results ({path} is missing); "
            f"run `uvscope analyze {scan_dir}` first"
        )
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise _reanalyse(path, f"damaged (not JSON: {err})", scan_dir) from None
    except OSError as err:
        raise StorageError(f"cannot read {path}: {err.strerror or err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("differential"), dict):
        raise _reanalyse(path, "damaged (no 'differential' object)", scan_dir)
    classes = doc["differential"].get("classes")
    if not isinstance(classes, list) or not all(_class_entry(c) for c in classes):
        raise _reanalyse(
            path, "damaged ('differential.classes' is not a list of named counts)", scan_dir
        )
    if not isinstance(doc.get("tiles", {}), dict):
        raise _reanalyse(path, "damaged ('tiles' is not an object)", scan_dir)
    return doc


def _class_entry(entry: object) -> bool:
    """One class of the differential: a name, a count and its percentages."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return False
    count = entry.get("count")
    numbers = [entry.get(k) for k in ("percent", "ci_low_percent", "ci_high_percent")]
    return (
        isinstance(count, int)
        and not isinstance(count, bool)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers)
    )


def check_cells(path: Path, scan_dir: Path) -> dict[str, int] | None:
    """cells.csv: there, UTF-8 CSV with the report's columns, whole rows and known classes.
    Returns the counted cells per class (``dead`` apart) where the table says which cells
    were counted (None otherwise)."""
    if not path.is_file():
        raise _reanalyse(path, "missing (the analysis is incomplete)", scan_dir)
    counted: dict[str, int] = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in CELL_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise _reanalyse(path, f"damaged (no {', '.join(missing)} column)", scan_dir)
            tally = {"counted", "dead"} <= set(reader.fieldnames or [])
            for n, row in enumerate(reader, start=2):
                _check_row(path, scan_dir, n, row)
                if tally and row["counted"] == "True":
                    key = "dead" if row["dead"] == "True" else row["cell_class"]
                    counted[key] = counted.get(key, 0) + 1
    except (UnicodeDecodeError, csv.Error) as err:
        raise _reanalyse(path, f"damaged (not a UTF-8 CSV table: {err})", scan_dir) from None
    except OSError as err:
        raise StorageError(f"cannot read {path}: {err.strerror or err}") from None
    return counted if tally else None


def _check_row(path: Path, scan_dir: Path, n: int, row: dict[Any, Any]) -> None:
    if None in row or None in row.values():
        raise _reanalyse(path, f"damaged (line {n} does not have the header's columns)", scan_dir)
    if row.get("cell_class") not in KNOWN_CLASSES:
        raise _reanalyse(
            path, f"damaged (line {n}: unknown class {row.get('cell_class')!r})", scan_dir
        )


def check_agree(counted: dict[str, int], doc: dict[str, Any], scan_dir: Path) -> None:
    """The cells the table marks counted are the differential's counts, class by class."""
    diff = doc["differential"]
    want = {str(c.get("name")): c.get("count") for c in diff["classes"]}
    want["dead"] = diff.get("dead")
    for name, count in want.items():
        if counted.get(name, 0) != count:
            raise StorageError(
                f"{scan_dir / 'analysis'}: cells.csv counts {counted.get(name, 0)} {name} "
                f"cells, differential.json {count}; one of them is damaged or from another "
                f"analysis: re-run `uvscope analyze {scan_dir}`"
            )


def check_report_inputs(scan_dir: str | Path) -> None:
    """Every file the report reads, checked first so damage is named, never reported on."""
    from uvscope.io.scanfolder import ScanFolder

    scan_dir = Path(scan_dir)
    ScanFolder(scan_dir).read_manifest()  # missing or damaged: says which and why
    root = scan_dir / "analysis"
    doc = check_differential(root / "differential.json", scan_dir)
    counted = check_cells(root / "cells.csv", scan_dir)
    if counted is not None:
        check_agree(counted, doc, scan_dir)
    reviewed_labels(scan_dir)


def check_report_target(path: Path) -> None:
    """The report's folder exists and may be written: refused before anything is written."""
    import os

    parent = path.parent
    if not parent.is_dir():
        raise StorageError(f"cannot write {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StorageError(
            f"cannot write {path}: the folder {parent} is read-only; give --out elsewhere"
        )


def write_text_whole(path: Path, text: str) -> None:
    """Write beside and rename: a killed writer leaves the previous file, never half a one."""
    import os

    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
