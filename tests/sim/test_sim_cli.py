"""``uvscope simulate`` writes a readable dataset and rejects bad arguments."""

from __future__ import annotations

import csv
import json

import numpy as np
import tifffile
from click.testing import CliRunner

from uvscope.cli import main


def test_simulate_writes_a_readable_dataset(tmp_path):
    out = tmp_path / "ds"
    r = CliRunner().invoke(
        main,
        [
            "simulate",
            "--out",
            str(out),
            "--tiles",
            "2",
            "--donors",
            "healthy,sickle",
            "--size",
            "160x128",
            "--wbc-fraction",
            "1",
            "--seed",
            "4",
        ],
    )
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["version"] == 1 and meta["wavelengths"] == [260, 280, 300]
    assert meta["tile_shape"] == [128, 160] and meta["pixel_size_um"] == 0.16
    assert set(meta["donors"]) == {"healthy", "sickle"} and len(meta["tiles"]) == 4
    assert sum(t["n_wbc"] > 0 for t in meta["tiles"]) >= 3  # tiles centred near WBCs
    for t in meta["tiles"]:
        d = out / t["path"]
        assert t["split"] in ("train", "val", "test")
        norm = {nm: tifffile.imread(d / f"norm_{nm}.tif") for nm in (260, 280, 300)}
        assert all(v.dtype == np.float32 and v.shape == (128, 160) for v in norm.values())
        assert 0.6 < float(np.median(norm[260])) < 1.1  # normalised transmission
        labels = tifffile.imread(d / "cell_labels.tif")
        nuc = tifffile.imread(d / "nucleus_labels.tif")
        rgb = tifffile.imread(d / "stained_rgb.tif")
        assert labels.dtype == np.int32 and nuc.dtype == np.int32
        assert rgb.shape == (128, 160, 3) and rgb.dtype == np.uint8
        with open(d / "cells.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == t["n_wbc"]
        ids = set(np.unique(labels)) - {0}
        assert {int(row["id"]) for row in rows} == ids
        for row in rows:
            assert row["kind"] in ("neutrophil", "eosinophil", "basophil", "lymphocyte", "monocyte")
            rr, cc = float(row["row"]), float(row["col"])
            if 5 < rr < 123 and 5 < cc < 155:  # a centre inside the tile lies on its cell
                assert labels[round(rr), round(cc)] == int(row["id"])


def test_simulate_binning_and_random_donors(tmp_path):
    out = tmp_path / "b2"
    r = CliRunner().invoke(
        main,
        [
            "simulate",
            "--out",
            str(out),
            "--tiles",
            "1",
            "--random-donors",
            "2",
            "--size",
            "128x96",
            "--binning",
            "2",
            "--wavelengths",
            "260",
        ],
    )
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["tile_shape"] == [48, 64] and abs(meta["pixel_size_um"] - 0.32) < 1e-9
    assert len(meta["donors"]) == 2 and all(k.startswith("random-") for k in meta["donors"])
    d = out / meta["tiles"][0]["path"]
    assert (d / "norm_260.tif").exists() and not (d / "norm_280.tif").exists()


def test_simulate_rejects_bad_arguments(tmp_path):
    run = CliRunner().invoke
    r = run(main, ["simulate", "--out", str(tmp_path / "a"), "--wavelengths", "260,555"])
    assert r.exit_code == 2 and "555" in r.output
    r = run(main, ["simulate", "--out", str(tmp_path / "b"), "--donors", "nobody"])
    assert r.exit_code == 2 and "unknown donor" in r.output
    r = run(
        main,
        ["simulate", "--out", str(tmp_path / "c"), "--donors", "healthy", "--random-donors", "2"],
    )
    assert r.exit_code == 2
    r = run(main, ["simulate", "--out", str(tmp_path / "d"), "--binning", "3"])
    assert r.exit_code == 2
    r = run(main, ["simulate", "--out", str(tmp_path / "e"), "--size", "big"])
    assert r.exit_code == 2 and "WIDTHxHEIGHT" in r.output


def test_simulate_exports_the_red_cell_and_platelet_truth(tmp_path):
    out = tmp_path / "ds"
    args = ["simulate", "--out", str(out), "--tiles", "2", "--donors", "thalassaemia-like"]
    r = CliRunner().invoke(main, [*args, "--size", "256x192", "--seed", "6"])
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["files"]["rbcs"] == "rbcs.csv" and meta["files"]["rbc_labels"] == "rbc_labels.tif"
    profile = meta["donors"]["thalassaemia-like"]["profile"]
    assert profile["rbc_morph_fractions"]["target"] > 0
    px_um2 = meta["pixel_size_um"] ** 2
    seen_rbcs = 0
    for t in meta["tiles"]:
        d = out / t["path"]
        rbc = tifffile.imread(d / "rbc_labels.tif")
        plt = tifffile.imread(d / "platelet_labels.tif")
        assert rbc.dtype == np.int32 and rbc.shape == (192, 256) and plt.dtype == np.int32
        with open(d / "rbcs.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert {int(row["id"]) for row in rows} == set(np.unique(rbc)) - {0}
        with open(d / "platelets.csv", newline="") as fh:
            prow = list(csv.DictReader(fh))
        assert {int(row["id"]) for row in prow} == set(np.unique(plt)) - {0}
        for row in rows:
            assert row["morph"] in ("normal", "sickle", "spherocyte", "elliptocyte",
                                    "schistocyte", "target")  # fmt: skip
            assert 8.0 < float(row["hb_pg"]) < 45.0 and row["overlapped"] in ("0", "1")
            rr, cc = float(row["row"]), float(row["col"])
            half = float(row["diameter_um"]) / 2 / meta["pixel_size_um"]
            whole = half < rr < 191 - half and half < cc < 255 - half
            if whole and row["overlapped"] == "0":  # its pixels are its outline's area
                area = float((rbc == int(row["id"])).sum()) * px_um2
                assert abs(area - float(row["area_um2"])) < 0.1 * float(row["area_um2"])
                seen_rbcs += 1
    assert seen_rbcs >= 5
