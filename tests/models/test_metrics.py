import numpy as np
import pytest

from uvscope.models.metrics import (
    classification_report,
    dice,
    mean_dice,
    msssim_rgb,
    stratified_kfold,
)


def test_dice_hand_cases():
    a = np.array([[1, 1, 0, 0]], bool)
    b = np.array([[1, 0, 1, 0]], bool)
    assert dice(a, b) == pytest.approx(0.5)  # 2*1 / (2+2)
    assert dice(a, a) == 1.0
    assert dice(np.zeros(4), np.zeros(4)) == 1.0
    assert dice(a, ~a) == 0.0
    assert mean_dice(np.stack([a, a]), np.stack([a, b])) == pytest.approx(0.75)


def test_classification_report_hand_case():
    rep = classification_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert rep.accuracy == pytest.approx(0.6)
    assert rep.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    np.testing.assert_allclose(rep.precision, [0.5, 2 / 3, 0.0])
    np.testing.assert_allclose(rep.recall, [0.5, 1.0, 0.0])
    # class a: TN = cells neither true a nor predicted a = 2 (both b cells); FP = 1
    np.testing.assert_allclose(rep.specificity, [2 / 3, 2 / 3, 1.0])
    np.testing.assert_allclose(rep.f1, [0.5, 0.8, 0.0])
    assert rep.macro["recall"] == pytest.approx(0.5)
    assert "| a | 2 |" in rep.markdown()


def test_msssim_identical_noisy_and_small_patches():
    rng = np.random.default_rng(0)
    img = rng.random((2, 64, 64, 3)).astype(np.float32)
    mean, per = msssim_rgb(img, img)
    assert mean == pytest.approx(1.0, abs=1e-5) and len(per) == 3
    noisy = np.clip(img + 0.2 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)
    assert msssim_rgb(noisy, img)[0] < 0.95
    assert msssim_rgb(img.transpose(0, 3, 1, 2), img.transpose(0, 3, 1, 2))[0] == pytest.approx(
        1.0, abs=1e-5
    )
    with pytest.raises(ValueError, match="32 px"):
        msssim_rgb(img[:, :24, :24], img[:, :24, :24])


def test_stratified_kfold_partitions_and_stratifies():
    y = np.array([0] * 20 + [1] * 10 + [2] * 3)
    folds = stratified_kfold(y, 5, seed=1)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(len(y)))
    for tr, te in folds:
        assert set(tr).isdisjoint(te)
        assert np.sum(y[te] == 0) == 4 and np.sum(y[te] == 1) == 2
