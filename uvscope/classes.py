"""The white-cell classes uvscope counts and the colour each is drawn in: one definition.

Every room uses these: the classifier's output order, the differential, the cell table, the
mosaic outlines and label colours (TIFF and OME-Zarr), the report and the GUI.
"""

from __future__ import annotations

#: the five-part differential, in the classifier head's output order
CLASSES: tuple[str, ...] = ("neutrophil", "eosinophil", "basophil", "lymphocyte", "monocyte")
#: cells the dead-cell checkpoint sets apart (counted, not in the differential)
DEAD = "dead"
#: every class a counted cell can have
ALL_CLASSES: tuple[str, ...] = (*CLASSES, DEAD)

#: white cells pre-classified beyond the five parts, as a review station lists them: reported
#: apart from the five-part 100 % (nucleated red cells per 100 WBC, as a CBC does)
PRECLASSES: tuple[str, ...] = (
    "band_neutrophil",
    "metamyelocyte",
    "myelocyte",
    "promyelocyte",
    "blast",
    "variant_lymphocyte",
    "plasma_cell",
    "nrbc",
    "smudge",
)
#: the immature granulocytes of the IG %
IMMATURE_GRANULOCYTES: tuple[str, ...] = ("metamyelocyte", "myelocyte", "promyelocyte")
#: pre-classes the differential reports by name (a band may join the neutrophils; blasts flag)
BAND = "band_neutrophil"
BLAST = "blast"
#: pre-classes counted apart from the 100 % of white cells: nucleated red cells (per 100 WBC,
#: as a CBC does) and smudge cells (a broken cell cannot be named)
NRBC = "nrbc"
SMUDGE = "smudge"

#: red-cell morphology classes, label-free (shape and haemoglobin), in the report's order
RBC_CLASSES: tuple[str, ...] = (
    "normal",
    "sickle",
    "spherocyte",
    "elliptocyte",
    "schistocyte",
    "target",
)

#: sRGB colour per class (colour-blind-safe where it matters: neutrophil vs lymphocyte)
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "neutrophil": (230, 97, 1),
    "eosinophil": (214, 39, 40),
    "basophil": (148, 103, 189),
    "lymphocyte": (31, 119, 180),
    "monocyte": (44, 160, 44),
    DEAD: (127, 127, 127),
    "band_neutrophil": (253, 174, 97),
    "metamyelocyte": (166, 86, 40),
    "myelocyte": (140, 81, 10),
    "promyelocyte": (191, 129, 45),
    "blast": (200, 0, 100),
    "variant_lymphocyte": (107, 174, 214),
    "plasma_cell": (8, 69, 148),
    "nrbc": (240, 59, 32),
    "smudge": (189, 189, 189),
}
UNKNOWN_COLOUR: tuple[int, int, int] = (255, 255, 255)

#: cell ids in label mosaics: ``tile * LABEL_STRIDE + label within the tile``
LABEL_STRIDE = 10_000


def class_colour(name: str) -> tuple[int, int, int]:
    """The colour of a class name (white for a name uvscope does not know)."""
    return CLASS_COLOURS.get(name, UNKNOWN_COLOUR)


def class_hex(name: str) -> str:
    """``#rrggbb`` for HTML and CSS."""
    return "#{:02x}{:02x}{:02x}".format(*class_colour(name))
