"""Which morphology class each whole red cell gets: the trained network or the rule set.

``[cbc] morphology`` chooses: ``network`` (``uvscope train rbc``'s weights; missing or
unfitting weights are an error), ``rules`` (``rbc_morphology.classify`` on the shape
descriptors) or ``auto`` (the network when its weights are present, else the rules). Both are
called the same way by ``SmearAnalyser``: the tile's binned OD, its red-cell pieces, their
shapes and which pieces are whole (only those are classified; the rest get "").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from uvscope.analysis.rbc import Shapes
from uvscope.analysis.rbc_morphology import classify
from uvscope.analysis.settings import CbcSettings
from uvscope.errors import ModelError

#: (binned OD, piece labels, their shapes, whole piece (bool per label), binned pixel um) ->
#: class name per label ("" where not classified)
MorphologyFn = Callable[[np.ndarray, np.ndarray, Shapes, np.ndarray, float], np.ndarray]


def rule_morphology(
    od: np.ndarray, pieces: np.ndarray, shapes: Shapes, whole: np.ndarray, px_um: float
) -> np.ndarray:
    """The shape rule set (``uvscope.analysis.rbc_morphology``)."""
    return classify(shapes)


class NetworkMorphology:
    """The morphology network on a crop of each whole cell (``uvscope.models.rbc_net``)."""

    name = "network"

    def __init__(self, weights: str = "default") -> None:
        from uvscope.models.registry import load_model, resolve

        self.path = resolve(weights, "rbc")
        self.net, self.cfg, self.card = load_model(self.path, "rbc")
        self.classes = np.array(self.cfg.classes, dtype=object)

    def __call__(
        self, od: np.ndarray, pieces: np.ndarray, shapes: Shapes, whole: np.ndarray, px_um: float
    ) -> np.ndarray:
        from uvscope.models.rbc_net import choose, cut_crops, predict_classes

        if abs(px_um - self.cfg.pixel_size_um) > 0.01:
            raise ModelError(
                f"the red-cell morphology network {self.path} was trained at "
                f"{self.cfg.pixel_size_um} um/px; the tiles give {px_um:.3f} um/px binned: "
                'set [cbc] morphology = "rules" or train it at this pixel size'
            )
        out = np.full(shapes.area_um2.shape, "", dtype=object)
        ks = np.nonzero(whole)[0]
        ks = ks[ks > 0]
        if ks.size:
            x = cut_crops(
                od, pieces, ks, shapes.row[ks], shapes.col[ks], self.cfg.crop_size,
                self.cfg.od_scale,
            )  # fmt: skip
            p = predict_classes(self.net, x, threads=1)
            out[ks] = self.classes[choose(p, self.cfg.logit_bias)]
        return out


@lru_cache(maxsize=4)
def _network(weights: str) -> NetworkMorphology:
    return NetworkMorphology(weights)


def network_available(weights: str = "default") -> bool:
    """Whether weights for the morphology network are there (the shipped ones by default)."""
    from uvscope.models.registry import resolve

    try:
        resolve(weights, "rbc")
    except ModelError:
        return False
    return True


def choose_morphology(settings: CbcSettings) -> Any:
    """The classifier ``settings.morphology`` asks for (loaded once per weights file)."""
    how = settings.morphology
    if how == "rules" or (how == "auto" and not network_available(settings.morphology_weights)):
        return rule_morphology
    return _network(settings.morphology_weights)


#: ``cbc.json``'s morphology "method" for the rule set
RULES_METHOD = "rule set on shape and absorbance"


def morphology_method(settings: CbcSettings) -> str:
    """What ``cbc.json`` and the report say classified the red cells."""
    fn = choose_morphology(settings)
    if isinstance(fn, NetworkMorphology):
        return f"morphology network ({fn.path.name}, sha256 {str(fn.card.get('sha256'))[:12]})"
    return RULES_METHOD
