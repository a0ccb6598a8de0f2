"""A lab's own images with masks: each layout, each validation error, nothing left in --out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from PIL import Image

from uvscope.cli import main
from uvscope.errors import ModelError
from uvscope.models.owndata import (
    composite_crops,
    load_sample,
    open_own_data,
    split_names,
)


def _cell_field(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stained-looking RGB field with one cell (dark nucleus in a paler cytoplasm) and its
    class-coded mask (0/128/255)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    r, c = h / 2 + rng.uniform(-3, 3), w / 2 + rng.uniform(-3, 3)
    d2 = (yy - r) ** 2 + (xx - c) ** 2
    rad = min(h, w) * 0.35
    cell, nuc = d2 < rad**2, d2 < (0.55 * rad) ** 2
    mask = np.where(nuc, 255, np.where(cell, 128, 0)).astype(np.uint8)
    rgb = np.full((h, w, 3), 225.0) + rng.normal(0, 4, (h, w, 3))
    rgb[cell] = (190, 160, 200)
    rgb[nuc] = (90, 40, 130)
    return np.clip(rgb, 0, 255).astype(np.uint8), mask


def make_class_mask_dir(
    root: Path,
    n: int = 6,
    shapes: tuple[tuple[int, int], ...] = ((37, 53), (64, 41), (50, 50)),
    toml: str | None = 'pixel_size_um = 0.23\nmodality = "rgb-stained"\n',
    classes: bool = True,
) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    names = ["neutrophil", "lymphocyte", "monocyte"]
    rows = ["name,class"]
    for i in range(n):
        rgb, mask = _cell_field(shapes[i % len(shapes)], i)
        Image.fromarray(rgb).save(root / "images" / f"im{i:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"im{i:02d}.png")
        rows.append(f"im{i:02d},{names[i % 3]}")
    if classes:
        (root / "classes.csv").write_text("\n".join(rows) + "\n")
    if toml is not None:
        (root / "dataset.toml").write_text(toml)
    return root


def test_class_mask_layout_odd_sizes_and_a_non_power_of_two_pixel_size(tmp_path: Path) -> None:
    ds = open_own_data(make_class_mask_dir(tmp_path / "d"), model_pixel_size_um=0.32)
    assert ds.layout == "class-mask" and ds.channels == 3 and ds.pixel_size_um == 0.23
    assert [it.shape for it in ds.items[:2]] == [(37, 53), (64, 41)]
    s = load_sample(ds, ds.items[0], 0.32)
    # resampled by 0.23 / 0.32, not rounded to a power of two
    assert s.gray.shape == (round(37 * 0.23 / 0.32), round(53 * 0.23 / 0.32))
    assert s.gray.dtype == np.float32 and 0 <= s.gray.min() and s.gray.max() <= 1
    # the mask's cell area is kept through resampling (in um^2)
    full = np.asarray(Image.open(ds.items[0].masks[0])) > 0
    assert (s.cell >= 0.5).sum() * 0.32**2 == pytest.approx(full.sum() * 0.23**2, rel=0.1)
    # the nucleus is darkest: the luma conversion keeps it
    assert s.gray[s.nucleus >= 0.5].mean() < s.gray[(s.cell >= 0.5) & (s.nucleus < 0.5)].mean()
    x, lab, dead, _ = composite_crops(ds, None, 0.32, 32)
    assert x.shape == (6, 3, 32, 32) and lab.tolist() == [0, 3, 4, 0, 3, 4] and not dead.any()


def test_cells_nuclei_label_layout_with_per_cell_classes_and_groups(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for sub in ("images", "cells", "nuclei"):
        (root / sub).mkdir(parents=True)
    for i in range(4):
        img = np.full((60, 90), 200, np.uint16) * 100
        cells = np.zeros((60, 90), np.uint16)
        cells[10:30, 10:30] = 1
        cells[30:55, 50:80] = 2
        img[cells > 0] = 9000
        nuc = np.zeros((60, 90), np.uint8)
        nuc[15:25, 15:25] = 255
        nuc[38:48, 58:70] = 255
        tifffile.imwrite(root / "images" / f"s{i}.tif", img)
        tifffile.imwrite(root / "cells" / f"s{i}.tif", cells)
        Image.fromarray(nuc).save(root / "nuclei" / f"s{i}.png")
    (root / "classes.csv").write_text(
        "name,cell,class\n" + "".join(f"s{i},1,Eosinophils\ns{i},2,dead\n" for i in range(4))
    )
    (root / "groups.csv").write_text("name,group\ns0,A\ns1,A\ns2,B\ns3,C\n")
    ds = open_own_data(root, pixel_size_um=0.16, model_pixel_size_um=0.32, modality="uv260")
    assert ds.layout == "cells-nuclei" and ds.channels == 1 and ds.modality == "uv260"
    x, lab, dead, _ = composite_crops(ds, None, 0.32, 32)
    assert lab.tolist() == [1, -1] * 4 and dead.tolist() == [0, 1] * 4
    split = split_names(ds, 3, 0)
    by_group = {n: g for n, g in (("s0", "A"), ("s1", "A"), ("s2", "B"), ("s3", "C"))}
    for a in ("train", "val", "test"):  # no slide on both sides of a split
        for b in ("train", "val", "test"):
            if a != b:
                assert not {by_group[n] for n in split[a]} & {by_group[n] for n in split[b]}


def _break(root: Path, how: str) -> str:
    """Damage a good folder one way; return a phrase the error must contain."""
    if how == "no_masks":
        for f in (root / "masks").iterdir():
            f.unlink()
        (root / "masks").rmdir()
        return "no masks"
    if how == "missing_mask":
        (root / "masks" / "im03.png").unlink()
        return "im03"
    if how == "bad_values":
        m = np.asarray(Image.open(root / "masks" / "im01.png")).copy()
        m[0, 0] = 77
        Image.fromarray(m).save(root / "masks" / "im01.png")
        return "im01.png holds values"
    if how == "shape":
        Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / "masks" / "im02.png")
        return "must match its image"
    if how == "too_small":
        rgb, mask = _cell_field((12, 14), 0)
        Image.fromarray(rgb).save(root / "images" / "im04.png")
        Image.fromarray(mask).save(root / "masks" / "im04.png")
        return "below the 16 px"
    return _break_csv(root, how)


def _break_csv(root: Path, how: str) -> str:
    if how == "no_pixel_size":
        (root / "dataset.toml").unlink()
        return "pixel_size_um"
    if how == "bad_class":
        (root / "classes.csv").write_text("name,class\nim00,platelet\n")
        return "'platelet'"
    if how == "unknown_name":
        (root / "classes.csv").write_text("name,class\nim99,neutrophil\n")
        return "im99"
    if how == "toml_key":
        (root / "dataset.toml").write_text("pixel_size_um = 0.2\npixelsize = 3\n")
        return "pixelsize"
    if how == "jpeg_mask":
        (root / "masks" / "im00.png").rename(root / "masks" / "im00.jpg")
        return "JPEG"
    if how == "orphan_mask":
        Image.fromarray(np.zeros((5, 5), np.uint8)).save(root / "masks" / "extra.png")
        return "extra"
    raise AssertionError(how)


CASES = [
    "no_masks",
    "missing_mask",
    "bad_values",
    "shape",
    "too_small",
    "no_pixel_size",
    "bad_class",
    "unknown_name",
    "toml_key",
    "jpeg_mask",
    "orphan_mask",
]


@pytest.mark.parametrize("how", CASES)
def test_each_layout_error_names_the_file_and_leaves_no_output(tmp_path: Path, how: str) -> None:
    root = make_class_mask_dir(tmp_path / "d")
    phrase = _break(root, how)
    with pytest.raises(ModelError, match=None) as err:
        open_own_data(root, model_pixel_size_um=0.32)
    assert phrase in str(err.value)
    out = tmp_path / "runs"
    kind = "segment" if how != "bad_class" else "classify"
    r = CliRunner().invoke(main, ["train", kind, "--data", str(root), "--out", str(out)])
    assert r.exit_code != 0 and phrase in r.output, r.output
    assert "Traceback" not in r.output
    assert not out.exists() and not list(tmp_path.glob(".runs*"))  # nothing created


def test_classify_without_classes_csv_is_refused_before_training(tmp_path: Path) -> None:
    root = make_class_mask_dir(tmp_path / "d", classes=False)
    r = CliRunner().invoke(
        main, ["train", "classify", "--data", str(root), "--out", str(tmp_path / "o")]
    )
    assert r.exit_code != 0 and "classes.csv" in r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_tiny_train_evaluate_on_synthetic_own_data_writes_a_card(tmp_path: Path) -> None:
    root = make_class_mask_dir(tmp_path / "d", n=10)
    out = tmp_path / "runs"
    args = ["--data", str(root), "--out", str(out), "--epochs", "1", "--folds", "3"]
    r = CliRunner().invoke(main, ["train", "segment", *args, "--steps", "2"])
    assert r.exit_code == 0, r.output
    card = __import__("json").loads((out / "segment.json").read_text())
    assert card["modality"] == "rgb-stained" and card["input_channels"] == 1
    assert card["data"]["pixel_size_um"] == 0.23 and "luma" in card["data"]["gray_conversion"]
    assert card["init"]["path"].endswith("segment.safetensors")  # fine-tuned by default
    assert set(card["data"]["split"]["test"]).isdisjoint(card["data"]["split"]["train"])
    assert (out / "segment.safetensors").stat().st_mode & 0o777 == 0o644
    assert not list(tmp_path.glob(".runs*"))
    r = CliRunner().invoke(
        main,
        ["evaluate", "segment", "--data", str(root), "--weights", str(out / "segment.safetensors")],
    )
    assert r.exit_code == 0, r.output
    assert "otsu_cell_dice" in r.output and "held-out fold test" in r.output


def test_colour_crops_are_cut_around_the_cell_and_normalised(tmp_path: Path) -> None:
    from uvscope.models.owndata import rgb_crops
    from uvscope.models.userdata import normalise_rgb

    ds = open_own_data(make_class_mask_dir(tmp_path / "d"))
    x, lab, _, _ = rgb_crops(ds, None, 32)
    assert x.shape == (6, 3, 32, 32) and lab.tolist() == [0, 3, 4, 0, 3, 4]
    # the cell (pale purple, darker nucleus) fills the crop: its centre is nucleus-dark
    assert x[:, 1, 14:18, 14:18].mean() < x[:, 1, :2, :2].mean()
    n = normalise_rgb(x)
    assert n.min() == 0.0 and n.max() == 1.0
    assert np.allclose(n.reshape(6, 3, -1).max(-1), 1.0, atol=0.05)


def test_hue_jitter_keeps_luma_and_changes_colour() -> None:
    import torch

    from uvscope.models.augment import hue_saturation

    x = torch.rand(4, 3, 16, 16) * 0.6 + 0.2
    y = hue_saturation(x, torch.Generator().manual_seed(1))
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert torch.allclose((x * w).sum(1), (y * w).sum(1), atol=1e-4)
    assert (x - y).abs().mean() > 1e-3


def test_a_tile_dataset_without_cells_csv_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "sim"
    for d in ("a", "b", "c"):
        t = root / d / "t0"
        t.mkdir(parents=True)
        tifffile.imwrite(t / "norm_260.tif", np.ones((64, 64), np.float32))
        tifffile.imwrite(t / "cell_labels.tif", np.zeros((64, 64), np.int32))
        tifffile.imwrite(t / "nucleus_labels.tif", np.zeros((64, 64), np.int32))
    r = CliRunner().invoke(
        main, ["train", "classify", "--data", str(root), "--out", str(tmp_path / "o")]
    )
    assert r.exit_code != 0 and "cells.csv" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_run_killed_mid_training_leaves_out_empty_and_resumes(tmp_path: Path) -> None:
    from uvscope.models.pipeline import OwnOptions, run_training

    root = make_class_mask_dir(tmp_path / "d", n=9)
    out = tmp_path / "runs"

    def dies_in_epoch_2(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt  # as a user's Ctrl-C

    opts = OwnOptions(folds=3)
    with pytest.raises(KeyboardInterrupt):
        run_training(
            "segment",
            root,
            out,
            epochs=2,
            steps_per_epoch=1,
            log=dies_in_epoch_2,
            own=opts,
            device="cpu",
        )
    assert not out.exists()
    stage = tmp_path / ".runs.segment.partial"
    assert (stage / "work" / "checkpoint.safetensors").exists()
    lines: list[str] = []
    card = run_training(
        "segment",
        root,
        out,
        epochs=2,
        steps_per_epoch=1,
        log=lines.append,
        own=opts,
        device="cpu",
        resume=True,
    )
    assert any(s.startswith("resumed after epoch 1") for s in lines), lines
    assert [e["epoch"] for e in card["history"]["epochs"]] == [0, 1]
    assert (out / "segment.safetensors").exists() and not stage.exists()
