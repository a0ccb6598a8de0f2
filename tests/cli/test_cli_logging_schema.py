"""The CLI in the ecosystem: JSON schema of the files (checked with jsonschema), -v and
--log-level, a log file in each scan folder, and --json for devices check."""

from __future__ import annotations

import json
import logging
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.scanfiles import SMALL_RIG, small_scan
from uvscope.cli import main

SMALL_SCAN = small_scan(2, 2)

jsonschema = pytest.importorskip("jsonschema", reason="needs jsonschema (the test extra)")


def _schema(kind: str) -> dict:
    r = CliRunner().invoke(main, ["config", "schema", kind])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _examples(prefix: str) -> list[Path]:
    root = resources.files("uvscope.examples")
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.startswith(prefix))


def test_scan_schema_accepts_the_shipped_files_and_refuses_typos() -> None:
    schema = _schema("scan")
    validator = jsonschema.Draft202012Validator(schema)
    files = _examples("scan-")
    assert len(files) >= 2
    for path in files:
        validator.validate(tomllib.loads(path.read_text()))
    good = tomllib.loads(files[0].read_text())
    with pytest.raises(jsonschema.ValidationError, match="overlap_percnt"):
        validator.validate({**good, "overlap_percnt": 10})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**good, "overlap_percent": 60})  # lt 50
    assert "sample" in schema["properties"]


def test_rig_schema_accepts_the_shipped_rigs() -> None:
    validator = jsonschema.Draft202012Validator(_schema("rig"))
    rigs = _examples("rig-")
    assert len(rigs) >= 3
    for path in rigs:
        validator.validate(tomllib.loads(path.read_text()))


def test_scan_help_points_to_the_schema() -> None:
    r = CliRunner().invoke(main, ["scan", "--help"])
    assert "uvscope config schema scan" in r.output


def test_each_scan_folder_gets_a_log_file(tmp_path: Path) -> None:
    (tmp_path / "rig.toml").write_text(SMALL_RIG)
    (tmp_path / "scan.toml").write_text(SMALL_SCAN)
    out = tmp_path / "out"
    files = ["--config", str(tmp_path / "scan.toml"), "--rig", str(tmp_path / "rig.toml")]
    args = ["--log-level", "info", "scan", *files, "--out", str(out), "--no-analysis", "--quiet"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    text = (out / "uvscope.log").read_text()
    assert "INFO" in text and "state: running" in text
    assert "finished: complete, 4 of 4 tiles" in text
    handlers = logging.getLogger("uvscope").handlers
    assert not any(isinstance(h, logging.FileHandler) for h in handlers)  # closed at the end


def test_verbosity_flags_set_the_terminal_level() -> None:
    from uvscope.logs import level_from

    assert level_from(0, None) == logging.WARNING
    assert level_from(1, None) == logging.INFO
    assert level_from(2, None) == logging.DEBUG
    assert level_from(2, "error") == logging.ERROR
    r = CliRunner().invoke(main, ["-vv", "config", "schema", "rig"])
    assert r.exit_code == 0
    r = CliRunner().invoke(main, ["--log-level", "loud", "config", "schema", "rig"])
    assert r.exit_code == 2 and "loud" in r.output


def test_devices_check_json() -> None:
    r = CliRunner().invoke(main, ["devices", "check", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)  # the rig line goes to stderr
    assert {row["device"] for row in rows} == {"camera", "filter_wheel", "stage", "focus"}
    assert all(row["verdict"] == "OK" for row in rows)


def test_scan_json_is_the_only_thing_on_stdout(tmp_path: Path) -> None:
    (tmp_path / "rig.toml").write_text(SMALL_RIG)
    (tmp_path / "scan.toml").write_text(SMALL_SCAN)
    out = tmp_path / "out"
    args = ["scan", "--config", str(tmp_path / "scan.toml"), "--rig", str(tmp_path / "rig.toml"),
            "--out", str(out), "--no-analysis", "--json"]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "complete" and doc["tiles_done"] == 4 and doc["exit_code"] == 0
    assert doc["folder"] == str(out)
    assert "complete: 4/4 tiles" in r.stderr  # the human summary went to stderr
