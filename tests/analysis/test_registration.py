"""Registration recovers injected stage errors of a few um on simulated overlapping tiles."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from tests.analysis.conftest import PX_UM
from tests.analysis.synth import grid_specs, render
from uvscope.analysis.registration import register_tiles, stage_origins
from uvscope.analysis.settings import MosaicSettings

SHAPE = (192, 256)


_FIELD = ndi.gaussian_filter(np.random.default_rng(7).random((900, 1100)), 2.0).astype(np.float32)
_FIELD_ORIGIN_UM = (9950.0, 9950.0)  # slide point (x, y) of field pixel (0, 0)


def _textured(center_mm, shape, px):
    """A blurred-noise smear (RBC-sized grain) sampled at the tile's true position."""
    h, w = shape
    y = center_mm[1] * 1e3 + (np.arange(h) - (h - 1) / 2) * px
    x = center_mm[0] * 1e3 + (np.arange(w) - (w - 1) / 2) * px
    yy, xx = np.meshgrid(
        (y - _FIELD_ORIGIN_UM[1]) / px, (x - _FIELD_ORIGIN_UM[0]) / px, indexing="ij"
    )
    return ndi.map_coordinates(_FIELD, [yy, xx], order=1).astype(np.float32)


def test_registration_recovers_injected_stage_errors() -> None:
    specs = grid_specs(3, 3, SHAPE, PX_UM, 0.35)
    rng = np.random.default_rng(3)
    errors_um = {s.index: rng.uniform(-2.0, 2.0, 2) for s in specs}  # true = planned + error
    images = {
        s.index: _textured(
            (s.x_mm + errors_um[s.index][0] * 1e-3, s.y_mm + errors_um[s.index][1] * 1e-3),
            SHAPE,
            PX_UM,
        )
        for s in specs
    }
    planned = {s.index: (s.x_mm, s.y_mm) for s in specs}
    truth = stage_origins(
        {
            k: (x + errors_um[k][0] * 1e-3, y + errors_um[k][1] * 1e-3)
            for k, (x, y) in planned.items()
        },
        SHAPE,
        PX_UM,
    )
    origins, pairs = register_tiles(images.__getitem__, planned, SHAPE, PX_UM)
    assert len(pairs) >= 12 and all(p.accepted for p in pairs)
    # compare relative positions (the global translation is set by the stage on average)
    ref_t, ref_o = np.mean([truth[k] for k in truth], 0), np.mean([origins[k] for k in origins], 0)
    err_before = max(
        np.hypot(*((stage_origins(planned, SHAPE, PX_UM)[k] - ref_o) - (truth[k] - ref_t)))
        for k in truth
    )
    err_after = max(np.hypot(*((origins[k] - ref_o) - (truth[k] - ref_t))) for k in truth)
    assert err_before > 8  # pixels: the injected errors are real
    assert err_after < 0.5


def test_blank_overlaps_and_outliers_are_rejected() -> None:
    specs = grid_specs(1, 3, SHAPE, PX_UM, 0.25)
    planned = {s.index: (s.x_mm, s.y_mm) for s in specs}
    images = {s.index: _textured((s.x_mm, s.y_mm), SHAPE, PX_UM) for s in specs}
    images[2] = np.ones(SHAPE, np.float32) + np.random.default_rng(0).normal(0, 0.01, SHAPE).astype(
        np.float32
    )
    origins, pairs = register_tiles(images.__getitem__, planned, SHAPE, PX_UM, MosaicSettings())
    bad = [p for p in pairs if 2 in (p.i, p.j)]
    assert bad and not any(p.accepted for p in bad)
    stage = stage_origins(planned, SHAPE, PX_UM)
    # tile 2 has no accepted pair: it stays where the stage put it (relative to the others)
    assert np.allclose(origins[2] - origins[1], stage[2] - stage[1], atol=0.5)
    # synthetic cells on blank glass do not matter here; render is imported for the mosaic tests
    assert render([], (0.0, 0.0), (4, 4), PX_UM).min() == 1.0


def test_streaming_registration_matches_whole_tiles_and_keeps_only_strips() -> None:
    from uvscope.analysis.registration import StreamingRegistration, measure_pair

    specs = grid_specs(3, 4, SHAPE, PX_UM, 0.2)
    rng = np.random.default_rng(5)
    err = {s.index: rng.uniform(-2.0, 2.0, 2) for s in specs}
    images = {
        s.index: _textured(
            (s.x_mm + err[s.index][0] * 1e-3, s.y_mm + err[s.index][1] * 1e-3), SHAPE, PX_UM
        )
        for s in specs
    }
    planned = {s.index: (s.x_mm, s.y_mm) for s in specs}
    s = MosaicSettings()
    reg = StreamingRegistration(planned, SHAPE, PX_UM, s)
    for k in [3, 0, 7, 1, 11, 2, 5, 4, 10, 6, 9, 8]:  # any order
        reg.add(k, images[k])
    origins, pairs = reg.solve()
    assert reg.held_bytes == 0  # every pair measured, every strip dropped
    in_order = StreamingRegistration(planned, SHAPE, PX_UM, s)
    held = []
    for k in sorted(images):  # scan order: strips wait about one grid row for their partner
        in_order.add(k, images[k])
        held.append(len(in_order._strips))
        assert all(st.data.size < images[k].size for st in in_order._strips.values())
    assert max(held) <= 4 + 1
    stage = stage_origins(planned, SHAPE, PX_UM)
    for p in pairs:  # strips give exactly what whole tiles give
        whole = measure_pair(
            images[p.i],
            images[p.j],
            stage[p.j] - stage[p.i],
            s.max_shift_um / PX_UM,
            s.min_correlation,
        )
        assert p.measured == whole[0] and p.correlation == whole[1]
    ref, _ = register_tiles(images.__getitem__, planned, SHAPE, PX_UM, s)
    for k in ref:
        np.testing.assert_allclose(origins[k], ref[k], atol=1e-9)


def test_strips_kept_in_a_spool_measure_what_arrays_do(tmp_path) -> None:
    """Strips waiting for their partner go compressed into a spool (here one that spills all
    of them to disk): the pairs measured are the same, and the spool is empty afterwards."""
    from uvscope.analysis.registration import StreamingRegistration
    from uvscope.io.packed import ChunkSpool

    specs = grid_specs(2, 3, SHAPE, PX_UM, 0.2)
    images = {s.index: _textured((s.x_mm, s.y_mm), SHAPE, PX_UM) for s in specs}
    planned = {s.index: (s.x_mm, s.y_mm) for s in specs}
    plain = StreamingRegistration(planned, SHAPE, PX_UM, MosaicSettings())
    spool = ChunkSpool(0, tmp_path)
    spooled = StreamingRegistration(planned, SHAPE, PX_UM, MosaicSettings(), spool=spool)
    for k in sorted(images):
        plain.add(k, images[k])
        spooled.add(k, images[k])
    assert spool.spilled_bytes > 0 and spool.on_disk_bytes == 0 and spool.in_memory_bytes == 0
    assert [(p.i, p.j, p.measured, p.correlation) for p in spooled.measures] == [
        (p.i, p.j, p.measured, p.correlation) for p in plain.measures
    ]
