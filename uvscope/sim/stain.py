"""Giemsa-like colour from mass maps, and the three-wavelength pseudocolour.

The same Beer-Lambert renderer turns the simulator's true mass maps into the ground-truth
``stained_rgb`` and turns masses unmixed from measured 260/280/300 nm ODs into the
pseudocolour image, so a network trained to go from 260 nm to colour learns a defined target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uvscope.sim.optics import OpticsParams


@dataclass(frozen=True)
class StainParams:
    """Stain vectors (RGB optical densities, skimage ``rgb_from_bex``) and weights (E)."""

    #: methylene-blue/azure vector for nucleic acid
    nucleic_vector: tuple[float, float, float] = (0.8348, 0.5136, 0.1963)
    #: eosin vector for protein and haemoglobin
    eosin_vector: tuple[float, float, float] = (0.0928, 0.9541, 0.2831)
    #: RGB OD per pg/um^2 of nucleic acid, protein, haemoglobin
    nucleic_weight: float = 7.0
    protein_weight: float = 0.30
    haemoglobin_weight: float = 0.42
    #: azure stains protein-bound nucleic acid purple: part of the NA goes to eosin too
    nucleic_eosin_fraction: float = 0.25
    #: colour of an empty slide (slightly warm white)
    background_rgb: tuple[float, float, float] = (0.97, 0.96, 0.94)
    #: ridge term of the unmixing (keeps noise from exploding the protein channel)
    unmix_ridge: float = 1e-3


def render_stain(
    na: np.ndarray, prot: np.ndarray, hb: np.ndarray, params: StainParams | None = None
) -> np.ndarray:
    """uint8 (H, W, 3) Giemsa-like image of mass maps in pg/um^2."""
    p = params or StainParams()
    mb = np.asarray(p.nucleic_vector, np.float32)
    eo = np.asarray(p.eosin_vector, np.float32)
    mb, eo = mb / np.linalg.norm(mb), eo / np.linalg.norm(eo)
    c_na = np.clip(na, 0, None) * np.float32(p.nucleic_weight)
    c_eo = (
        np.clip(prot, 0, None) * np.float32(p.protein_weight)
        + np.clip(hb, 0, None) * np.float32(p.haemoglobin_weight)
        + c_na * np.float32(p.nucleic_eosin_fraction)
    )
    out = np.empty(na.shape + (3,), np.uint8)
    for ch in range(3):
        od = c_na * mb[ch] + c_eo * eo[ch]
        t = np.float32(255.0 * p.background_rgb[ch]) * np.power(np.float32(10.0), -od)
        out[..., ch] = np.clip(np.rint(t), 0, 255).astype(np.uint8)
    return out


def unmix(
    od_260: np.ndarray,
    od_280: np.ndarray,
    od_300: np.ndarray,
    optics: OpticsParams | None = None,
    ridge: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares (ridge) nucleic acid, protein, haemoglobin mass maps (pg/um^2)."""
    o = optics or OpticsParams()
    a = np.array([o.od_weights(w) for w in (260, 280, 300)], np.float64)  # (3 nm, 3 species)
    solve = np.linalg.solve(a.T @ a + ridge * np.eye(3), a.T).astype(np.float32)
    ods = [np.clip(np.asarray(v, np.float32), 0, None) for v in (od_260, od_280, od_300)]
    masses = []
    for s in range(3):
        m = solve[s, 0] * ods[0] + solve[s, 1] * ods[1] + solve[s, 2] * ods[2]
        masses.append(np.clip(m, 0, None))
    return masses[0], masses[1], masses[2]


def pseudocolor(
    od_260: np.ndarray,
    od_280: np.ndarray,
    od_300: np.ndarray,
    optics: OpticsParams | None = None,
    params: StainParams | None = None,
) -> np.ndarray:
    """Giemsa-like RGB (uint8) from registered optical densities at 260, 280 and 300 nm."""
    p = params or StainParams()
    na, prot, hb = unmix(od_260, od_280, od_300, optics, p.unmix_ridge)
    return render_stain(na, prot, hb, p)


def od_from_normalised(norm: np.ndarray) -> np.ndarray:
    """OD = -log10(T), clipped at 0 (normalised transmittance above 1 is noise)."""
    t = np.clip(np.asarray(norm, np.float32), 1e-4, None)
    return np.clip(-np.log10(t), 0, None)
