"""Mosaics rendered during the scan: bands written as the tiles under them arrive, identical to
the one-shot build, and only the last bands left after the last tile."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from tests.analysis.conftest import PX_UM
from tests.analysis.scanfolder_fixture import write_scan_folder
from tests.analysis.synth import grid_specs
from tests.analysis.test_registration import _textured
from uvscope.acquisition.tiles import Tile
from uvscope.analysis.mosaic import TileSources, mosaic_layers, outline_overlay
from uvscope.analysis.outputs import AnalysisOutputs
from uvscope.analysis.pipeline import TileResult
from uvscope.analysis.registered_mosaics import RegisteredMosaics
from uvscope.analysis.registration import StreamingRegistration, stage_origins
from uvscope.analysis.settings import AnalysisSettings, MosaicSettings
from uvscope.io.mosaic import (
    GRAY_QUANTUM,
    Layer,
    MosaicGeometry,
    render_layer,
    write_stage_mosaics,
)
from uvscope.io.scanfolder import ScanFolder
from uvscope.io.stage_sink import StageMosaicSink

SHAPE = (192, 256)


def _levels(path: Path) -> list[np.ndarray]:
    with tifffile.TiffFile(path) as tf:
        return [lev.asarray() for lev in tf.series[0].levels]


def _assert_same_file_pixels(a: Path, b: Path) -> None:
    la, lb = _levels(a), _levels(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(x, y)


def _scan(tmp_path: Path, rows: int, cols: int, seed: int = 3):
    """A serpentine grid whose tiles sit a few um off the plan (the stage read them back so)."""
    specs = grid_specs(rows, cols, SHAPE, PX_UM, 0.2)
    rng = np.random.default_rng(seed)
    err = {s.index: rng.uniform(-1.5, 1.5, 2) * 1e-3 for s in specs}  # mm
    tiles = []
    for s in specs:
        x, y = s.x_mm + err[s.index][0], s.y_mm + err[s.index][1]
        img = _textured((x, y), SHAPE, PX_UM)
        tiles.append(
            Tile(
                spec=s,
                x_mm=x,
                y_mm=y,
                z_um=0.0,
                pixel_size_um=PX_UM,
                raw={},
                normalised={260: img},
                exposure_ms={260: 10.0},
                acquired_at_s=0.0,
            )
        )
    return specs, tiles


# ---------------------------------------------------------------- stage mosaics


def _drawn(root: Path, specs, tiles: list[Tile]) -> tuple[ScanFolder, StageMosaicSink]:
    """A scan folder whose saved tiles went to the stage-mosaic sink, as the scan's do."""
    folder = write_scan_folder(root, specs, tiles)
    sink = StageMosaicSink(folder)
    for t in tiles:
        sink.put(t)
    return folder, sink


def test_stage_mosaic_is_rendered_while_tiles_are_written(tmp_path: Path) -> None:
    specs, tiles = _scan(tmp_path, 10, 3)
    folder, sink = _drawn(tmp_path / "scan", specs, tiles)
    live = sink.live
    assert live is not None  # the first tile started it from the plan
    st = live.streams[260]
    total_bands = -(-live.geometry.shape[0] // st.band_rows)
    assert total_bands >= 4
    assert st.bands_rendered >= total_bands - 2  # written as the scan went
    sink.close()
    assert st.loaded_at_finish == 0  # no tile read back
    assert st.bands_at_finish <= 2  # only the band(s) under the last grid row
    assert sink.live is None
    assert folder.read_manifest()["mosaic"]["placement"] == "stage"

    # the one-shot build (every tile read back, placed at its read-back position) is the same
    records = folder.verified_tiles()
    origins = stage_origins({k: (r.x_mm, r.y_mm) for k, r in records.items()}, SHAPE, PX_UM)
    layer = Layer(lambda k: folder.read_tile(k, 260)[0], np.dtype(np.float32), quantum=GRAY_QUANTUM)
    ref = render_layer(tmp_path / "ref.ome.tif", live.geometry, origins, layer, "ref")
    _assert_same_file_pixels(folder.mosaic_path(260), ref)
    with tifffile.TiffFile(folder.mosaic_path(260)) as tf:  # format unchanged
        assert tf.is_ome and len(tf.series[0].levels) >= 2
        assert tf.pages.first.tags["ResolutionUnit"].value == 3  # centimetre
        assert "PositionX" in tf.ome_metadata

    # a folder written without streaming (a resumed scan's earlier tiles) gives the same file
    plain = ScanFolder.open(tmp_path / "scan")
    write_stage_mosaics(plain)
    _assert_same_file_pixels(plain.mosaic_path(260), ref)


def test_stage_mosaic_of_a_scan_stopped_early_keeps_the_planned_frame(tmp_path: Path) -> None:
    specs, tiles = _scan(tmp_path, 6, 3)
    folder, sink = _drawn(tmp_path / "scan", specs, tiles[:10])  # the rest never taken
    assert sink.live is not None
    geometry = sink.live.geometry
    sink.close()
    img = tifffile.imread(folder.mosaic_path(260))
    assert img.shape == geometry.shape
    assert np.all(img[-20:] == 0)  # nothing imaged there: the fill


# ---------------------------------------------------------------- analysis mosaics


def _results(tiles: list[Tile]) -> dict[int, TileResult]:
    out = {}
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    for t in tiles:
        g = t.normalised[260]
        lab = np.zeros(SHAPE, np.int32)
        rng = np.random.default_rng(t.index)
        for k in range(1, 4):
            cy, cx = rng.integers(20, SHAPE[0] - 20), rng.integers(20, SHAPE[1] - 20)
            lab[(yy - cy) ** 2 + (xx - cx) ** 2 < 12**2] = k
        st = np.dstack([(g * 200).clip(0, 255).astype(np.uint8)] * 3)
        cells = [
            SimpleNamespace(label=k, cell_class=c, counted=True, cells_out_of_focus=0)
            for k, c in ((1, "neutrophil"), (2, "lymphocyte"))  # label 3: not counted
        ]
        out[t.index] = TileResult(
            index=t.index,
            spec=t.spec,
            x_mm=t.x_mm,
            y_mm=t.y_mm,
            shape=SHAPE,
            pixel_size_um=PX_UM,
            cells=cells,  # type: ignore[arg-type]
            labels=lab,
            nuclei=(lab > 0).astype(np.int32) * lab,
            stained=st,
            gray=g,
        )
    return out


def _settings() -> AnalysisSettings:
    return AnalysisSettings(mosaic=MosaicSettings(tile_size=32, blend_width_px=16))


def _run(scan: Path, results: dict[int, TileResult], order: list[int], push: bool = True):
    """Analysis outputs fed tile by tile in ``order`` (``push`` False: the per-tile files are
    written but the mosaics get no tile, as for a resumed scan's earlier tiles: all read back)."""
    out = AnalysisOutputs(scan, settings=_settings(), mosaic_pixel_size_um=PX_UM * 2)
    if not push:
        out.mosaics.draw = lambda res: None  # type: ignore[method-assign]
    seen_bands = []
    for k in order:
        out.write_tile(results[k])
        if push:
            seen_bands.append(out.mosaics.live.streams["gray"].bands_rendered)
    g, info = out.write_mosaics(list(results.values()))
    arrays = {k: _levels(out.mosaic_path(k)) for k in ("gray", "stained", "labels", "outlines")}
    return out, g, info, arrays, seen_bands


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("during")
    specs, tiles = _scan(tmp, 5, 4, seed=11)
    scan = tmp / "scan"
    write_scan_folder(scan, specs, tiles)
    return scan, specs, _results(tiles)


def test_analysis_mosaics_are_written_during_the_analysis(analysed) -> None:
    scan, specs, results = analysed
    out, g, info, arrays, seen = _run(scan, results, sorted(results))
    total = -(-g.shape[0] // 32)
    assert total >= 8
    half = seen[len(seen) // 2]
    assert 0 < half < total  # bands written while tiles were still coming
    assert seen[-1] >= total - 5  # by the last tile all but the last few
    m = out.mosaics.live
    assert m.bands_at_finish <= 5  # after the last tile: only those
    assert all(st.loaded_at_finish == 0 for st in m.streams.values())
    assert info["pairs_accepted"] >= len(info["pairs"]) - 1 > 20
    assert "placed_beyond_margin" not in info

    # pixel-identical to the one-shot build at the same origins from the files on disk
    placed = {int(k): np.array(v) for k, v in info["positions_px"].items()}
    counted = {k: {c.label: c.cell_class for c in r.counted} for k, r in results.items()}
    sources = TileSources(out.load_gray, out.load_stained, out.load_labels)
    layers = mosaic_layers(sources, counted, _settings().mosaic)
    assert isinstance(g, MosaicGeometry)
    for kind in ("gray", "stained", "labels"):
        ref = render_layer(out.root / f"ref_{kind}.ome.tif", g, placed, layers[kind], kind, tile=32)
        got = arrays[kind]
        for x, y in zip(got, _levels(ref), strict=True):
            np.testing.assert_array_equal(x, y)
    whole_labels = arrays["labels"][0]
    np.testing.assert_array_equal(arrays["outlines"][0], outline_overlay(whole_labels, counted))
    ids = set(np.unique(whole_labels)) - {0}
    assert all(i % 10_000 in (1, 2) for i in ids)  # only counted cells

    # the registration still recovers the read-back errors relative to the truth
    truth = stage_origins({r.index: (r.x_mm, r.y_mm) for r in results.values()}, SHAPE, PX_UM)
    d = np.array([placed[k] - truth[k] for k in truth])
    assert np.abs(d - d.mean(0)).max() < 1.0


def test_tile_order_and_reading_back_do_not_change_the_mosaics(analysed, tmp_path: Path) -> None:
    scan, specs, results = analysed
    _, _, info_a, a, _ = _run(scan, results, sorted(results))
    rng = np.random.default_rng(0)
    order = sorted(results)
    for i in range(0, len(order) - 3, 3):  # batches out of order, refocused tiles late
        order[i : i + 3] = order[i : i + 3][::-1]
    order.append(order.pop(2))
    rng.shuffle(order[-4:])
    _, _, info_b, b, _ = _run(scan, results, order)
    _, _, info_c, c, _ = _run(scan, results, sorted(results), push=False)  # all read back
    assert info_a["positions_px"] == info_b["positions_px"] == info_c["positions_px"]
    for kind in a:
        for x, y, z in zip(a[kind], b[kind], c[kind], strict=True):
            np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(x, z)


def test_a_failed_tile_does_not_hold_back_the_bands(analysed) -> None:
    scan, specs, results = analysed
    out = AnalysisOutputs(scan, settings=_settings(), mosaic_pixel_size_um=PX_UM * 2)
    order = sorted(results)
    for k in order:
        if k == 5:
            out.tile_failed(5)
            continue
        out.write_tile(results[k])
    m = out.mosaics.live
    ok = [r for k, r in results.items() if k != 5]
    out.write_mosaics(ok)
    assert m.bands_at_finish <= 5


def test_frozen_registration_is_order_independent_and_accurate() -> None:
    specs = grid_specs(4, 4, SHAPE, PX_UM, 0.2)
    rng = np.random.default_rng(2)
    err = {s.index: rng.uniform(-2.0, 2.0, 2) for s in specs}
    truth_mm = {
        s.index: (s.x_mm + err[s.index][0] * 1e-3, s.y_mm + err[s.index][1] * 1e-3) for s in specs
    }
    images = {k: _textured(v, SHAPE, PX_UM) for k, v in truth_mm.items()}
    planned = {s.index: (s.x_mm, s.y_mm) for s in specs}
    groups = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    sols = []
    for order in (sorted(images), [3, 0, 1, 2, 7, 5, 4, 6, 8, 9, 11, 10, 15, 12, 13, 14]):
        reg = StreamingRegistration(planned, SHAPE, PX_UM)
        for k in order:
            reg.add(k, images[k])
            for grp in groups:  # freeze each row once it is all in, top to bottom
                if set(grp) <= reg.seen and not set(grp) <= set(reg.frozen):
                    if all(set(g) <= set(reg.frozen) for g in groups[: groups.index(grp)]):
                        reg.freeze(grp)
        sols.append(reg.frozen_solution()[0])
    for k in sols[0]:
        np.testing.assert_array_equal(sols[0][k], sols[1][k])
    truth = stage_origins(truth_mm, SHAPE, PX_UM)

    def worst(origins) -> float:
        d = np.array([origins[k] - truth[k] for k in truth])
        return float(np.abs(d - d.mean(0)).max())

    # row by row (each row fixed against the rows above) is about as exact as one global fit
    # (0.80 vs 0.77 px here, of errors up to +-12 px), within a mosaic pixel (2 tile pixels)
    assert worst(sols[0]) < 1.0
    assert worst(sols[0]) <= worst(reg.solve()[0]) + 0.1
    with pytest.raises(ValueError):
        StreamingRegistration(planned, SHAPE, PX_UM).freeze([0])  # not seen: cannot place


def test_mosaic_copies_are_independent(analysed, tmp_path: Path) -> None:
    """A copy of the scan analysed again gives the same files (nothing left behind)."""
    scan, specs, results = analysed
    copy = tmp_path / "copy"
    shutil.copytree(scan, copy, ignore=shutil.ignore_patterns("analysis*"))
    _, _, info, a, _ = _run(copy, results, sorted(results))
    assert not list(copy.rglob("*.part")) and not list(copy.rglob(".mosaic-spool-*"))
    assert info["tiles"] == len(results)


def test_a_mosaic_failure_during_the_analysis_leaves_them_to_the_end(analysed, monkeypatch) -> None:
    """A failing band write does not fail tiles: the mosaics are built from the files at the
    end, the same pixels."""
    scan, specs, results = analysed
    _, _, info_a, a, _ = _run(scan, results, sorted(results))
    out = AnalysisOutputs(scan, settings=_settings(), mosaic_pixel_size_um=PX_UM * 2)
    calls = {"n": 0}
    real = RegisteredMosaics._mosaics_for

    def flaky(self, *args):
        calls["n"] += 1
        if calls["n"] == 7:
            raise OSError("disk hiccup")
        return real(self, *args)

    monkeypatch.setattr(RegisteredMosaics, "_mosaics_for", flaky)
    for k in sorted(results):
        out.write_tile(results[k])  # no tile fails
    assert out.mosaics.deferred == "OSError: disk hiccup"
    _, info = out.write_mosaics(list(results.values()))
    assert info["deferred_to_the_end"] == "OSError: disk hiccup"
    assert info["positions_px"] == info_a["positions_px"]
    for kind in a:
        for x, y in zip(a[kind], _levels(out.mosaic_path(kind)), strict=True):
            np.testing.assert_array_equal(x, y)


def test_end_of_scan_steps_are_reported_on_the_event_surface(tmp_path: Path) -> None:
    from uvscope.io.progress import end_products

    specs, tiles = _scan(tmp_path, 4, 2)
    folder = write_scan_folder(tmp_path / "scan", specs, tiles)
    heard = []

    def on_step(scan: str, what: str, done: int, total: int) -> None:
        heard.append((scan, what, done, total))

    end_products.step.connect(on_step)
    try:
        write_stage_mosaics(folder)
    finally:
        end_products.step.disconnect(on_step)
    assert heard and heard[-1][0] == str(folder.root)
    assert heard[-1][1].startswith("mosaic 260 nm") and heard[-1][2] == heard[-1][3]
