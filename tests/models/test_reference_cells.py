"""Reference cells: the built-in simulated ones, a lab's own folder first, bad folders said."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uvscope.classes import CLASSES, DEAD, PRECLASSES
from uvscope.errors import ModelError
from uvscope.models.reference_cells import (
    BUILTIN_DIR,
    PER_CLASS,
    choose_reference_cells,
    load_reference_folder,
)
from uvscope.models.reference_render import CROP_PX, _Renderer
from uvscope.models.userdata import load_crop_folder


def _lab_folder(root: Path, classes: dict[str, int], shade: int = 30) -> Path:
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((40, 40, 3), shade + i, np.uint8)).save(
                root / name / f"{i}.png"
            )
    return root


def test_built_in_references_cover_every_class_the_simulator_draws() -> None:
    refs = choose_reference_cells(None)
    assert refs.problem == ""
    assert set(refs.images) == {*CLASSES, DEAD, *PRECLASSES}
    for cls, images in refs.images.items():
        assert len(images) == PER_CLASS, cls
        assert all(im.shape == (CROP_PX, 2 * CROP_PX, 3) and im.dtype == np.uint8 for im in images)
        assert refs.source[cls].startswith("built-in")
    total = sum(f.stat().st_size for f in BUILTIN_DIR.rglob("*.jpg"))
    assert total < 200_000  # shipped small
    # the layout a lab's own crops use: `uvscope train classify --data` reads it as it is
    crops = load_crop_folder(BUILTIN_DIR, 32)
    assert len(crops.paths) == len(CLASSES + PRECLASSES) * PER_CLASS + PER_CLASS


def test_a_simulated_reference_is_one_whole_cell_of_its_true_class() -> None:
    renderer = _Renderer("healthy", 11)
    neutrophils = [c for c in renderer.cells() if c.kind == "neutrophil" and not c.dead][:40]
    crop = next((c for c in map(renderer.crop, neutrophils) if c is not None), None)
    assert crop is not None, "no clean neutrophil among 40"
    assert crop.shape == (CROP_PX, 2 * CROP_PX, 3)
    stained, gray = crop[:, :CROP_PX].astype(int), crop[:, CROP_PX:, 0].astype(int)
    # the cell in the middle absorbs (darker than the corners' background) in both halves
    mid = slice(CROP_PX // 2 - 4, CROP_PX // 2 + 4)
    assert gray[mid, mid].mean() < gray[:4, :4].mean() - 20
    assert stained[mid, mid].sum(axis=-1).mean() < stained[:4, :4].sum(axis=-1).mean() - 60


def test_a_lab_folder_takes_precedence_class_by_class(tmp_path) -> None:
    lab = _lab_folder(tmp_path / "refs", {"Neutrophils": 5, "dead": 1})
    refs = choose_reference_cells(lab)
    assert refs.problem == ""
    assert len(refs.images["neutrophil"]) == PER_CLASS  # the first few, by name
    assert int(refs.images["neutrophil"][0][0, 0, 0]) == 30
    assert refs.images["dead"][0].shape == (40, 40, 3)
    assert str(lab) in refs.source["neutrophil"] and str(lab) in refs.source[DEAD]
    assert refs.source["monocyte"].startswith("built-in")  # the lab has none: built-in


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda root: _lab_folder(root, {"neutrophil": 1, "granulocyte": 1}), "'granulocyte'"),
        (lambda root: (root / "neutrophil").mkdir(parents=True), "no images found"),
        (lambda root: None, "does not exist"),
    ],
)
def test_a_malformed_lab_folder_is_said_and_the_built_in_ones_stay(tmp_path, make, said) -> None:
    root = tmp_path / "refs"
    make(root)
    refs = choose_reference_cells(root)
    assert said in refs.problem and refs.problem.startswith("the lab's reference cells")
    assert refs.source["neutrophil"].startswith("built-in")


def test_an_unreadable_image_is_named(tmp_path) -> None:
    (tmp_path / "basophil").mkdir()
    (tmp_path / "basophil" / "a.png").write_bytes(b"not a picture")
    with pytest.raises(ModelError, match="a.png cannot be read as an image"):
        load_reference_folder(tmp_path)
