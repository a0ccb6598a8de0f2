"""Every time a scan's analysis writes is ISO 8601 with the offset written ``+01:00`` (not the
old ``+0000``), in the lab's local zone, so files, window and report agree on one format."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.analysis.conftest import PX_UM, SHAPE
from tests.analysis.scanfolder_fixture import write_scan_folder
from tests.analysis.synth import fake_models, grid_specs, make_tile, random_slide
from uvscope.analysis.review import load_signoff, sign_off
from uvscope.analysis.session import analyse_scan_folder
from uvscope.analysis.settings import AnalysisSettings
from uvscope.localtime import local_text, parse_time

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture
def berlin(monkeypatch):
    """A lab one hour east of UTC in winter, so a UTC time cannot pass for a local one."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _scan(tmp_path: Path) -> Path:
    specs = grid_specs(1, 2, SHAPE, PX_UM, 0.3)
    xs = [s.x_mm * 1e3 for s in specs]
    ys = [s.y_mm * 1e3 for s in specs]
    cells = random_slide(12, (min(xs) - 20, max(xs) + 20), (min(ys) - 15, max(ys) + 15), 3)
    root = tmp_path / "scan"
    write_scan_folder(root, specs, [make_tile(s, cells, SHAPE, PX_UM) for s in specs])
    return root


def test_analysis_files_carry_local_iso_times_with_the_offset(
    tmp_path: Path, settings: AnalysisSettings, berlin
) -> None:
    root = _scan(tmp_path)
    before = datetime.now(UTC).replace(microsecond=0)
    analyse_scan_folder(root, fake_models(), settings)
    after = datetime.now(UTC) + timedelta(seconds=1)
    a = root / "analysis"
    names = ["differential.json"] + (["cbc.json"] if (a / "cbc.json").exists() else [])
    for name in names:
        created = json.loads((a / name).read_text())["created"]
        assert ISO_WITH_OFFSET.match(created), f"{name}: {created!r}"
        assert created.endswith("+01:00"), f"{name} is not in the lab's zone: {created!r}"
        when = parse_time(created)
        assert when is not None and before <= when <= after


def test_sign_off_is_stored_in_local_time_and_shown_in_the_same_zone(
    tmp_path: Path, berlin
) -> None:
    root = tmp_path / "scan"
    root.mkdir()
    record = sign_off(root, "A. Tech", now=datetime(2026, 12, 1, 12, 30, tzinfo=UTC))
    assert record.time == "2026-12-01T13:30:00+01:00"
    stored = json.loads((root / "analysis" / "signoff.json").read_text())["time"]
    assert stored == "2026-12-01T13:30:00+01:00"
    assert load_signoff(root) == record
    assert local_text(record.time) == "2026-12-01 13:30 +01:00"


def test_an_older_utc_sign_off_still_reads_as_the_same_moment(berlin) -> None:
    assert local_text("2026-12-01T12:30:00+0000") == "2026-12-01 13:30 +01:00"
    assert local_text("2026-12-01T12:30:00+00:00") == "2026-12-01 13:30 +01:00"
