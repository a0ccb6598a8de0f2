"""--class-weight: a class drawn FACTOR times as often as the balanced sampler would."""

import numpy as np
from click.testing import CliRunner

from uvscope.cli import main
from uvscope.models.arch import CLASS_NAMES
from uvscope.models.train_classify import balanced_indices


def test_neutrophils_drawn_three_times_as_often_as_bands():
    band = CLASS_NAMES.index("band_neutrophil")
    label = np.array([0] * 90 + [band] * 10)  # 9 neutrophils for every band
    dead = np.zeros_like(label)
    rng = np.random.default_rng(0)
    plain = label[balanced_indices(label, dead, 20000, rng)]
    weighted = label[balanced_indices(label, dead, 20000, rng, {"neutrophil": 3.0})]
    assert abs((plain == 0).mean() - 0.5) < 0.02
    assert abs((weighted == 0).mean() - 0.75) < 0.02


def test_unknown_class_or_bad_factor_is_refused_before_reading(tmp_path):
    runner = CliRunner()
    base = ["train", "classify", "--data", str(tmp_path), "--out", str(tmp_path / "w")]
    for bad, says in (
        ("neutrophill=3", "unknown class"),
        ("neutrophil=0", "above 0"),
        ("neutrophil", "NAME=FACTOR"),
    ):
        res = runner.invoke(main, [*base, "--class-weight", bad])
        assert res.exit_code == 2, res.output
        assert says in res.output
    assert not (tmp_path / "w").exists()
