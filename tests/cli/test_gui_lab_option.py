"""`uvscope gui --lab FILE`: a misspelt lab setting is one line naming it, exit status 2,
before any window opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from uvscope.cli import main

pytest.importorskip("PySide6", reason="the gui command needs PySide6")


def test_a_bad_lab_file_names_the_field_and_exits_2(tmp_path: Path, monkeypatch):
    opened = []
    monkeypatch.setattr("uvscope.gui.app.run", lambda *a, **k: opened.append(a) or 0)
    lab = tmp_path / "lab.toml"
    lab.write_text("require_identiy = false\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["gui", "--lab", str(lab)])
    assert r.exit_code == 2, r.output
    assert "require_identiy: unknown field" in r.output
    assert opened == []
    lab.write_text("require_identity = false\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["gui", "--lab", str(lab)])
    assert r.exit_code == 0, r.output
    assert opened and opened[0][2].require_identity is False


def test_without_a_scan_file_the_window_opens_on_count_200(tmp_path: Path, monkeypatch):
    """Counting 200 WBCs is the GUI's default way to scan; a scan file keeps its own mode."""
    opened = []
    monkeypatch.setattr("uvscope.gui.app.run", lambda *a, **k: opened.append(a) or 0)
    r = CliRunner().invoke(main, ["gui"])
    assert r.exit_code == 0, r.output
    target = opened[-1][1].target
    assert target is not None and target.wbc == 200
    scan = tmp_path / "scan.toml"
    scan.write_text('name = "fixed"\n', encoding="utf-8")
    r = CliRunner().invoke(main, ["gui", "--scan", str(scan)])
    assert r.exit_code == 0, r.output
    assert opened[-1][1].target is None
