"""The red-cell step's fast paths give what scipy's reference functions give, to the bit.

The distance transform (the ``edt`` package), the window maxima (``window_max``) and the seed
plateaus' labels (``_label_sparse``) replaced scipy.ndimage calls to make the red-cell step
cheaper (benchmarks/bench_rbc_speed.py). On a full-size simulated sickle tile each one must
equal the scipy function it replaced, and the whole analysis run with the scipy functions put
back must give the same records; the records are then checked against the simulator's truth.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

import uvscope.analysis.rbc as rbc
import uvscope.analysis.smear as smear
from uvscope.acquisition.tiles import Tile, TileSpec
from uvscope.analysis.evaluate import SimCamera
from uvscope.analysis.evaluate_cbc import truth_in_box
from uvscope.analysis.smear import SmearAnalyser, SmearTile


@cache
def _tile() -> tuple[SimCamera, Tile, np.ndarray]:
    """One full-size (1040 x 1392) tile of the sickle donor, held-out seed, and its WBCs."""
    cam = SimCamera("sickle", 343)
    cx, cy = cam.world.smear_centre_mm()
    spec = TileSpec(0, 0, 0, cx, cy)
    return cam, cam.tile(spec), cam.world.ground_truth(cx, cy).cell_labels


def _frame() -> smear._Frame:
    _, tile, wbc = _tile()
    return SmearAnalyser()._frame(tile, wbc, SmearTile(index=0))


def _label_like_scipy(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    lab, n = ndi.label(mask)
    at = np.flatnonzero(mask)
    return at, lab.ravel()[at], n


def _scipy_edt(mask: np.ndarray) -> np.ndarray:
    out: np.ndarray = ndi.distance_transform_edt(mask).astype(np.float32)
    return out


def test_distance_to_edge_is_scipys_on_a_real_tile() -> None:
    mask = _frame().labels > 0
    np.testing.assert_array_equal(rbc.distance_to_edge(mask), _scipy_edt(mask))


def test_seed_plateaus_are_labelled_as_scipy_labels_them() -> None:
    f = _frame()
    dist = rbc.distance_to_edge(f.labels > 0)
    peaks = (dist == ndi.maximum_filter(dist, size=13)) & (dist >= 5.6)
    got = rbc._label_sparse(peaks)
    want = _label_like_scipy(peaks)
    assert got[2] == want[2] > 10
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("seed", range(6))
def test_sparse_labels_on_random_masks_and_edges(seed: int) -> None:
    """Pixels on the right edge must not join the next row's first pixel."""
    rng = np.random.default_rng(seed)
    mask = rng.random((23, 17)) < 0.15 * (seed + 1)
    mask[:, -1] = True
    mask[:, 0] = seed % 2 == 0
    got, want = rbc._label_sparse(mask), _label_like_scipy(mask)
    assert got[2] == want[2]
    np.testing.assert_array_equal(got[1], want[1])
    assert rbc._label_sparse(np.zeros((4, 5), bool))[2] == 0


def _records(monkeypatch: pytest.MonkeyPatch | None) -> SmearTile:
    if monkeypatch is not None:  # scipy's functions where the fast paths are
        monkeypatch.setattr(smear, "distance_to_edge", _scipy_edt)
        monkeypatch.setattr(rbc, "_label_sparse", _label_like_scipy)
        for module in (rbc, smear):
            monkeypatch.setattr(module, "window_max", lambda a, size: ndi.maximum_filter(a, size))
    _, tile, wbc = _tile()
    return SmearAnalyser().analyse(tile, wbc, None)


def _same(a: object, b: object) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or (
        a == b
    )


def test_fast_paths_give_the_reference_records_and_the_truth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = _records(None)
    ref = _records(monkeypatch)
    assert len(fast.rbcs) == len(ref.rbcs) > 150
    for a, b in zip(fast.rbcs, ref.rbcs, strict=True):
        da, db = dataclasses.asdict(a), dataclasses.asdict(b)
        assert all(_same(da[k], db[k]) for k in da), (da, db)
    assert [dataclasses.asdict(p) for p in fast.platelets] == [
        dataclasses.asdict(p) for p in ref.platelets
    ]
    assert fast.platelet_visible_fraction == ref.platelet_visible_fraction
    # and against the simulator's truth: whole counted cells matched to a true cell within
    # 2 um carry its haemoglobin within 1.5 pg in the median (bench_cbc: 0.4 pg mean error)
    cam, tile, _ = _tile()
    hx, hy = cam.half_um()
    cx, cy = tile.x_mm * 1e3, tile.y_mm * 1e3
    true_rbcs, _ = truth_in_box(cam.world, (cx - hx, cy - hy, cx + hx, cy + hy))
    tree = cKDTree([(r.cx, r.cy) for r in true_rbcs])
    whole = [r for r in fast.rbcs if r.counted and not r.overlapped and math.isfinite(r.hb_pg)]
    dist, idx = tree.query([(r.x_um, r.y_um) for r in whole])
    matched = dist < 2.0
    assert matched.mean() > 0.9
    err = [r.hb_pg - true_rbcs[i].hb_pg for r, i, ok in zip(whole, idx, matched, strict=True) if ok]
    assert abs(float(np.median(err))) < 1.5
    counted = sum(r.counted for r in fast.rbcs)
    assert 0.8 * len(true_rbcs) < counted < 1.1 * len(true_rbcs)
