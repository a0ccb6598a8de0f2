"""One time format: ISO 8601 with the offset in files, local time with the offset on screen."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from uvscope.localtime import iso_now, local_text, parse_time


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_every_written_form_reads_as_the_same_instant():
    forms = ("2026-12-07T17:55:19+0000", "2026-12-07T17:55:19+00:00", "2026-12-07T17:55:19Z")
    assert len({parse_time(f) for f in forms}) == 1
    assert parse_time("") is None and parse_time("yesterday") is None


def test_local_text_is_the_lab_clock_with_its_offset(new_york):
    assert local_text("2026-12-07T17:55:19+0000") == "2026-12-07 12:55 -05:00"
    assert local_text("2026-07-07T17:55:19+00:00", seconds=True) == "2026-07-07 13:55:19 -04:00"
    assert local_text("not a time") == "not a time" and local_text(None) == ""


def test_files_get_iso_8601_with_a_colon_offset(new_york):
    text = iso_now()
    assert text[-6:] in ("-05:00", "-04:00")
    assert datetime.fromisoformat(text).utcoffset() is not None


def test_a_new_scan_folder_records_its_creation_with_the_offset(tmp_path, new_york):
    import json

    from uvscope.io.scanfolder import ScanFolder

    folder = ScanFolder.create(tmp_path / "scan", {"config": {}, "plan": {"tiles": 0}})
    folder.release()
    created = json.loads((tmp_path / "scan" / "manifest.json").read_text())["created"]
    assert created[-6:] in ("-05:00", "-04:00") and "T" in created
