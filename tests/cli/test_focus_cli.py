"""``uvscope focus calibrate`` on the simulated rig (objective: +1.2 / +2.4 um at 280 / 300 nm)."""

import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

from uvscope.cli import main
from uvscope.config import ScanConfig, parse_model

RIG = """
name = "small simulated rig"
[camera]
backend = "sim"
width_px = 160
height_px = 120
pixel_size_um = 0.16
"""

ONE_WAVELENGTH = """
[region]
center_mm = [42.5, 32.5]
rows = 1
columns = 1
[[wavelengths]]
nm = 260
"""


def test_calibrate_measures_the_simulated_objective_and_prints_scan_toml(tmp_path: Path):
    (tmp_path / "rig.toml").write_text(RIG)
    res = CliRunner().invoke(
        main, ["focus", "calibrate", "--rig", str(tmp_path / "rig.toml"), "--at", "42.5,32.5"]
    )
    assert res.exit_code == 0, res.output
    found = {int(nm): float(v) for nm, v in re.findall(r"(\d+) nm: ([+-][\d.]+) um", res.output)}
    assert abs(found[280] - 1.2) < 0.1 and abs(found[300] - 2.4) < 0.1 and found[260] == 0
    snippet = res.output.split("# for the scan file:")[1]
    waves = tomllib.loads(snippet)["wavelengths"]
    scan = parse_model(
        ScanConfig,
        {"region": {"center_mm": [42.5, 32.5], "rows": 1, "columns": 1}, "wavelengths": waves},
        "snippet",
    )
    assert [w.focus_offset_um for w in scan.wavelengths] == [0.0, found[280], found[300]]


def test_calibrate_with_one_wavelength_says_what_to_give(tmp_path: Path):
    (tmp_path / "rig.toml").write_text(RIG)
    (tmp_path / "scan.toml").write_text(ONE_WAVELENGTH)
    res = CliRunner().invoke(
        main,
        [
            "focus",
            "calibrate",
            "--rig",
            str(tmp_path / "rig.toml"),
            "--scan",
            str(tmp_path / "scan.toml"),
            "--at",
            "42.5,32.5",
        ],
    )
    assert res.exit_code == 2 and "two or more wavelengths" in res.output
    res = CliRunner().invoke(main, ["focus", "calibrate", "--at", "nowhere"])
    assert res.exit_code == 2 and "X,Y" in res.output
