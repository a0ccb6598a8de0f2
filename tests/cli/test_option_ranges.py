"""Numbers on the command line that no command can use: refused by click (exit 2, naming
the option) before anything runs; ``nan`` and ``inf`` included, which click's own ranges let
through."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from uvscope.cli import main

CASES = [
    (["simulate", "--tiles", "1", "--seed", "-1"], "--seed"),
    (["simulate", "--tiles", "1", "--wbc-fraction", "nan"], "--wbc-fraction"),
    (["simulate", "--tiles", "1", "--defocus-sd", "inf"], "--defocus-sd"),
    (["simulate", "--tiles", "1", "--defocus-sd", "-1"], "--defocus-sd"),
    (["devices", "home", "--rig", "sim", "--clearance-um", "nan", "--yes"], "--clearance-um"),
]


@pytest.mark.parametrize(
    ("args", "option"), CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CASES]
)
def test_unusable_numbers_are_refused_naming_the_option(
    tmp_path: Path, args: list[str], option: str
) -> None:
    if args[0] == "simulate":
        args = [*args, "--out", str(tmp_path / "data")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert option in r.output and "Traceback" not in r.output
    assert not (tmp_path / "data").exists()
