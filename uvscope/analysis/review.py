"""A reviewer's corrections of cell classes and sign-off, read back from a scan folder.

The GUI writes ``analysis/reviewed_labels.csv`` (one row per changed cell) and
``analysis/signoff.json``; the report and anyone re-counting read them here, so the file
formats and the reviewed differential have one implementation, with the same Wilson intervals
as the automatic count. A reviewer may also put a cell in a class outside the five-part
differential (band neutrophil, blast, smudge, artefact, unidentified): such cells are counted
apart and never enter the differential's denominator.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from uvscope.analysis.differential import Differential, DifferentialCounter
from uvscope.classes import CLASSES, DEAD, PRECLASSES
from uvscope.errors import StorageError
from uvscope.localtime import now_local

#: where the reviewed labels live inside a scan folder
REVIEWED_CSV = Path("analysis") / "reviewed_labels.csv"
REVIEWED_FIELDS: tuple[str, ...] = ("cell_id", "tile", "x_um", "y_um", "predicted", "reviewed")
SIGNOFF_JSON = Path("analysis") / "signoff.json"
#: the red-cell and platelet review (written and read by ``uvscope.analysis.rbc_review``); the
#: sign-off covers it as it covers the white cells' reviewed labels
REVIEWED_RBC_CSV = Path("analysis") / "reviewed_rbc.csv"
#: classes beyond the five parts: the pre-classes the classifier names (counted in the
#: differential's own rows, see ``DifferentialCounter``) and two a reviewer alone gives
OUTSIDE_CLASSES: tuple[str, ...] = (*PRECLASSES, "artefact", "unidentified")
#: review-only classes: never counted
REVIEW_ONLY_CLASSES: tuple[str, ...] = ("artefact", "unidentified")
#: a cell is low-confidence when the probability of the class it was given is below this
LOW_CONFIDENCE_P = 0.6
#: every class a reviewer may choose
REVIEW_CLASSES: tuple[str, ...] = (*CLASSES, DEAD, *OUTSIDE_CLASSES)


def class_label(name: str) -> str:
    """A class name as an operator reads it ("band_neutrophil" -> "band neutrophil")."""
    return name.replace("_", " ")


@dataclass(frozen=True)
class ReviewedLabel:
    """One changed cell: the class the analysis gave it and the one the reviewer chose."""

    cell_id: str
    tile: int
    predicted: str
    reviewed: str


def read_review_csv(path: Path, fields: Sequence[str], what: str) -> list[dict[str, str]]:
    """The rows of a review file (``what``: e.g. "reviewed-labels"); none when it does not
    exist. Damage (not CSV text, empty, another header) is named as this file's, never blamed
    on the results it reviews."""
    if not path.exists():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames
    except OSError as err:
        raise StorageError(f"could not read {what} file {path}: {err}") from err
    except (UnicodeDecodeError, csv.Error) as err:
        raise StorageError(
            f"{path} is damaged (not CSV text: {err}); fix or delete the file and review again"
        ) from None
    if header is None:  # the review always writes its header: an empty file is damage
        raise StorageError(f"{path} is empty (not even its header); delete it and review again")
    if not set(fields) <= set(header):
        raise StorageError(
            f"{path} is not a {what} file: its header is {', '.join(header)[:80]!r}, "
            f"not {', '.join(fields)}; fix or delete the file and review again"
        )
    return rows


def load_reviewed_labels(scan_dir: str | Path) -> dict[str, ReviewedLabel]:
    """cell id -> reviewed label from a scan folder; empty when it was never reviewed."""
    rows = read_reviewed_rows(
        Path(scan_dir) / REVIEWED_CSV, REVIEWED_FIELDS, "reviewed-labels", "cell_id", REVIEW_CLASSES
    )
    return {r[0]: ReviewedLabel(*r) for r in rows}


def read_reviewed_rows(
    path: Path, fields: Sequence[str], what: str, id_field: str, classes: Sequence[str]
) -> list[tuple[str, int, str, str]]:
    """(id, tile, predicted, reviewed) of each row of a review file (the WBC and the red-cell
    review alike), a bad row or an unknown class named by its line."""
    out: list[tuple[str, int, str, str]] = []
    for n, row in enumerate(read_review_csv(path, fields, what), start=2):
        try:
            item = (row[id_field], int(row["tile"]), row["predicted"], row["reviewed"])
        except (KeyError, TypeError, ValueError) as err:
            raise StorageError(
                f"{path} line {n} is not a reviewed label ({err}); its columns must be "
                f"{', '.join(fields)}: fix or delete the file and review again"
            ) from err
        if item[3] not in classes:
            raise StorageError(
                f"{path} line {n}: unknown class {item[3]!r}; expected one of {', '.join(classes)}"
            )
        out.append(item)
    return out


def reviewed_labels(scan_dir: str | Path) -> dict[str, ReviewedLabel]:
    """``load_reviewed_labels``, with a file that is not UTF-8 CSV at all named too."""
    try:
        return load_reviewed_labels(scan_dir)
    except (UnicodeDecodeError, csv.Error) as err:
        raise StorageError(
            f"{Path(scan_dir) / REVIEWED_CSV} is damaged (not a UTF-8 CSV table: {err}); "
            "restore it, or delete it and review the cells again"
        ) from None


def reviewed_differential(
    cells: Iterable[tuple[str, str]],
    reviewed: Mapping[str, ReviewedLabel],
    confidence: float = 0.95,
    stop_after_wbc: int | None = None,
) -> Differential:
    """The differential of counted cells ``(cell_id, automatic class)`` after the review.

    A reviewed label replaces the automatic class of its cell; moving a cell to or from
    ``dead`` takes it out of or into the healthy count, as in the automatic differential; a
    pre-class counts in its own row. A cell moved to artefact or unidentified leaves the
    differential (see ``outside_counts``).
    """
    counter = DifferentialCounter(confidence=confidence, stop_after_wbc=stop_after_wbc)
    for cell_id, cls in cells:
        review = reviewed.get(cell_id)
        final = review.reviewed if review is not None else cls
        if final not in REVIEW_ONLY_CLASSES:
            counter.add(final, dead=final == DEAD)
    return counter.snapshot()


def outside_counts(
    cells: Iterable[tuple[str, str]], reviewed: Mapping[str, ReviewedLabel]
) -> dict[str, int]:
    """Cells the reviewer put outside the five-part differential, per class (all classes)."""
    known = {cell_id for cell_id, _ in cells}
    out = dict.fromkeys(OUTSIDE_CLASSES, 0)
    for cell_id, label in reviewed.items():
        if cell_id in known and label.reviewed in out:
            out[label.reviewed] += 1
    return out


# ---------------------------------------------------------------------------- sign-off


@dataclass(frozen=True)
class SignOff:
    """Who signed the review off and when; ``labels_sha256`` pins the reviewed white-cell labels
    signed, ``rbc_labels_sha256`` the reviewed red cells and platelets (empty: none; sign-offs
    written before the red-cell review was covered have neither field and read as empty)."""

    operator: str
    time: str  #: ISO 8601 with the local offset (older folders: UTC); read with parse_time
    reviewed_cells: int
    labels_sha256: str
    reviewed_red_cells: int = 0
    rbc_labels_sha256: str = ""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _labels_digest(scan_dir: Path) -> str:
    return _digest(scan_dir / REVIEWED_CSV)


def _rbc_review_rows(scan_dir: Path) -> int:
    rows = read_review_csv(
        scan_dir / REVIEWED_RBC_CSV, ("object_id", "reviewed"), "reviewed red-cell"
    )
    return len(rows)


def sign_off(scan_dir: str | Path, operator: str, now: datetime | None = None) -> SignOff:
    """Record in the scan folder that ``operator`` signed off the review as it is now: the
    white cells' reviewed labels and the red-cell and platelet review."""
    scan_dir = Path(scan_dir)
    operator = operator.strip()
    if not operator:
        raise StorageError("a sign-off needs the operator's name: enter it and sign off again")
    when = (now or now_local()).astimezone()  # local, with its offset, like every file
    record = SignOff(
        operator=operator,
        time=when.isoformat(timespec="seconds"),
        reviewed_cells=len(load_reviewed_labels(scan_dir)),
        labels_sha256=_labels_digest(scan_dir),
        reviewed_red_cells=_rbc_review_rows(scan_dir),
        rbc_labels_sha256=_digest(scan_dir / REVIEWED_RBC_CSV),
    )
    path = scan_dir / SIGNOFF_JSON
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(record), indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        raise StorageError(
            f"could not save the sign-off to {path}: {err}; check the scan folder is writable"
        ) from err
    return record


def load_signoff(scan_dir: str | Path) -> SignOff | None:
    """The stored sign-off, or None when the review was never signed off."""
    path = Path(scan_dir) / SIGNOFF_JSON
    if not path.exists():
        return None
    try:
        return SignOff(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as err:
        raise StorageError(
            f"{path} is not a sign-off ({err}); delete it and sign the review off again"
        ) from err


def signoff_is_current(scan_dir: str | Path, record: SignOff) -> bool:
    """False when the reviewed white-cell labels or the red-cell review changed after the
    sign-off (it no longer covers them)."""
    scan_dir = Path(scan_dir)
    return record.labels_sha256 == _labels_digest(scan_dir) and (
        record.rbc_labels_sha256 == _digest(scan_dir / REVIEWED_RBC_CSV)
    )
