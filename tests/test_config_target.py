"""[target] in scan files: a target count needs the analysis, and one stop count."""

import pytest

from uvscope.config import ScanConfig
from uvscope.errors import ConfigError


def test_a_target_sets_the_stop_count_and_keeps_the_fixed_scan_default():
    assert ScanConfig().target is None and ScanConfig().stop_after_wbc is None
    scan = ScanConfig(target={"wbc": 200}, analysis={"enabled": True})
    assert scan.stop_after_wbc == 200 and scan.target.max_area_mm2 == 25.0
    assert scan.target.start_mm is None
    same = ScanConfig(target={"wbc": 100}, analysis={"enabled": True, "stop_after_wbc": 100})
    assert same.stop_after_wbc == 100


@pytest.mark.parametrize(
    ("changes", "expect"),
    [
        ({"target": {"wbc": 200}}, "[analysis] enabled"),
        ({"target": {"wbc": 0}, "analysis": {"enabled": True}}, "target.wbc"),
        ({"target": {"max_area_mm2": 5}, "analysis": {"enabled": True}}, "target.wbc"),
        ({"target": {"wbc": 5, "max_area_mm2": 0}, "analysis": {"enabled": True}}, "max_area"),
        ({"target": {"wbc": 5, "start_mm": [1]}, "analysis": {"enabled": True}}, "start_mm"),
        (
            {"target": {"wbc": 5}, "analysis": {"enabled": True, "stop_after_wbc": 9}},
            "disagree",
        ),
    ],
)
def test_bad_targets_name_the_field(changes, expect):
    with pytest.raises(ConfigError, match=expect.replace("[", r"\[").replace(".", r"\.")):
        ScanConfig().replace(**changes)
