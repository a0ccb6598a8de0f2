"""Which rig a command drives without --rig: UVSCOPE_RIG, the user config, else the simulator."""

from __future__ import annotations

from click.testing import CliRunner

from uvscope.cli import main
from uvscope.config import RigConfig, default_rig, dump_toml

PAPER_LIKE = RigConfig(name="lab rig", camera={"width_px": 64, "height_px": 48})


def _rig_file(tmp_path, name="lab rig"):
    path = tmp_path / "rig.toml"
    path.write_text(dump_toml(PAPER_LIKE.replace(name=name)), encoding="utf-8")
    return path


def test_without_anything_configured_the_simulator_is_used_and_said(tmp_path):
    assert default_rig() == (None, "built-in default")
    result = CliRunner().invoke(main, ["devices", "check"])
    assert result.exit_code == 0, result.output
    assert "rig: simulated deep-UV rig (built-in)" in result.stderr


def test_uvscope_rig_names_the_default_rig(tmp_path, monkeypatch):
    path = _rig_file(tmp_path)
    monkeypatch.setenv("UVSCOPE_RIG", str(path))
    assert default_rig() == (path, "$UVSCOPE_RIG")
    result = CliRunner().invoke(main, ["devices", "check"])
    assert f"rig: lab rig ({path}, from $UVSCOPE_RIG)" in result.stderr
    assert "[sim]" in result.output and "64x48 px" in result.output  # that rig's camera
    # the simulator only when asked
    asked = CliRunner().invoke(main, ["devices", "check", "--rig", "sim"])
    assert "rig: simulated deep-UV rig (built-in, --rig sim)" in asked.stderr


def test_user_config_names_the_rig_relative_to_itself(tmp_path, monkeypatch):
    cfg_dir = tmp_path / "xdg" / "uvscope"
    cfg_dir.mkdir(parents=True)
    _rig_file(cfg_dir, name="from the user config")
    (cfg_dir / "config.toml").write_text('rig = "rig.toml"\n', encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_rig() == (cfg_dir / "rig.toml", str(cfg_dir / "config.toml"))
    result = CliRunner().invoke(main, ["devices", "check"])
    assert "rig: from the user config" in result.stderr


def test_a_configured_rig_that_does_not_load_stops_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("UVSCOPE_RIG", str(tmp_path / "missing.toml"))
    result = CliRunner().invoke(main, ["devices", "check"])
    assert result.exit_code == 2
    assert "no such file (rig from $UVSCOPE_RIG)" in result.output


def test_load_rig_without_a_path_gives_the_configured_rig(tmp_path, monkeypatch):
    """What `uvscope batch` relies on for entries without a rig."""
    from uvscope.config import load_rig

    monkeypatch.setenv("UVSCOPE_RIG", str(_rig_file(tmp_path)))
    assert load_rig(None).name == "lab rig"
    assert load_rig("sim").name == "simulated deep-UV rig"
