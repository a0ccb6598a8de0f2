"""Donor profiles: the blood of one simulated person (proportions, sizes, densities).

Every number here is an estimate (E in simulator-physics.md) kept as a field so that donors
can differ the way the paper's 23 donors did, and so models can be tested on held-out donors.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import numpy as np

from uvscope.classes import CLASSES
from uvscope.errors import ConfigError

WBC_KINDS: tuple[str, ...] = CLASSES  # the simulator draws the classes uvscope counts


def _healthy_fractions() -> dict[str, float]:
    return {
        "neutrophil": 0.60,
        "eosinophil": 0.03,
        "basophil": 0.007,
        "lymphocyte": 0.30,
        "monocyte": 0.063,
    }


@dataclass(frozen=True)
class DonorProfile:
    """Blood composition of one donor; all values are estimates and may be varied."""

    name: str
    #: fraction of each WBC kind among all WBCs (normalised on use)
    wbc_fractions: dict[str, float] = field(default_factory=_healthy_fractions)
    #: WBCs per mm^2 of monolayer; 0.3-0.6 per 0.037 mm^2 frame is about 8-16
    wbc_per_mm2: float = 12.0
    #: fraction of the monolayer area covered by RBCs
    rbc_coverage: float = 0.30
    rbc_diameter_um: float = 7.5
    rbc_diameter_sd_um: float = 0.45
    #: haemoglobin per RBC (MCH, pg)
    rbc_hb_pg: float = 29.0
    rbc_hb_sd_pg: float = 3.0
    #: probability that a new RBC may overlap an existing one
    rbc_overlap_prob: float = 0.12
    sickle_fraction: float = 0.0
    #: platelets per RBC (about 250e3 / 5e6 per uL)
    platelets_per_rbc: float = 0.05
    platelet_clump_prob: float = 0.08
    #: fraction of WBCs that are dead (pyknotic or karyorrhectic)
    dead_fraction: float = 0.04
    #: among dead WBCs, the fraction that are karyorrhectic (rest pyknotic)
    karyorrhexis_fraction: float = 0.4
    large_lymphocyte_fraction: float = 0.10
    #: probability that a WBC has a second WBC touching it
    wbc_touching_prob: float = 0.05
    #: scales every WBC diameter
    wbc_size_scale: float = 1.0
    #: DNA per diploid nucleus (pg) and nuclear protein (pg)
    dna_pg: float = 6.6
    nuclear_protein_pg: float = 25.0
    #: cytoplasm protein surface density (pg/um^2) before the per-kind factor
    cytoplasm_protein_pg_um2: float = 0.55
    #: small debris and opaque dust particles per mm^2
    debris_per_mm2: float = 40.0
    dust_per_mm2: float = 3.0

    def fractions(self) -> np.ndarray:
        """WBC kind probabilities in WBC_KINDS order, summing to 1."""
        p = np.array([max(self.wbc_fractions.get(k, 0.0), 0.0) for k in WBC_KINDS], float)
        if p.sum() <= 0:
            raise ConfigError(f"donor {self.name!r}: wbc_fractions sum to zero")
        fractions: np.ndarray = p / p.sum()
        return fractions


def _healthy() -> DonorProfile:
    return DonorProfile(name="healthy")


def _neutropenia() -> DonorProfile:
    frac = _healthy_fractions()
    frac["neutrophil"] = 0.12  # absolute neutrophil count far below normal
    return DonorProfile(name="neutropenia", wbc_fractions=frac, wbc_per_mm2=6.0)


def _thrombocytopenia() -> DonorProfile:
    return DonorProfile(name="thrombocytopenia", platelets_per_rbc=0.006, platelet_clump_prob=0.0)


def _sickle() -> DonorProfile:
    frac = _healthy_fractions()
    frac["neutrophil"] = 0.66
    return DonorProfile(
        name="sickle",
        wbc_fractions=frac,
        wbc_per_mm2=15.0,
        sickle_fraction=0.18,
        rbc_coverage=0.24,
        rbc_hb_pg=27.0,
        rbc_diameter_sd_um=0.8,
    )


def _lymphocytosis() -> DonorProfile:
    frac = _healthy_fractions()
    frac["lymphocyte"] = 0.55
    frac["neutrophil"] = 0.36
    return DonorProfile(
        name="lymphocytosis", wbc_fractions=frac, wbc_per_mm2=18.0, large_lymphocyte_fraction=0.2
    )


def _monocytosis() -> DonorProfile:
    """Reactive monocytosis (chronic infection, recovery from neutropenia, CMML-like): about
    18 % monocytes, absolute count above 1e9/L, taken from the neutrophils and lymphocytes."""
    frac = _healthy_fractions()
    frac["monocyte"] = 0.18
    frac["neutrophil"] = 0.52
    frac["lymphocyte"] = 0.263
    return DonorProfile(name="monocytosis", wbc_fractions=frac, wbc_per_mm2=14.0)


DONORS = {
    "healthy": _healthy,
    "neutropenia": _neutropenia,
    "thrombocytopenia": _thrombocytopenia,
    "sickle": _sickle,
    "lymphocytosis": _lymphocytosis,
    "monocytosis": _monocytosis,
}

_RANDOM = re.compile(r"^random-(\d+)$")


def random_donor(seed: int) -> DonorProfile:
    """A held-out donor: proportions, sizes and densities drawn around the healthy profile."""
    rng = np.random.default_rng([seed, 0xD0]) if seed >= 0 else np.random.default_rng()
    base = _healthy()
    alpha = 60.0 * base.fractions() + 0.3
    frac = rng.dirichlet(alpha)
    kind = rng.choice(["none", "neutropenia", "thrombocytopenia", "sickle"], p=[0.7, 0.1, 0.1, 0.1])
    sickle = float(rng.uniform(0.08, 0.25)) if kind == "sickle" else 0.0
    platelets = base.platelets_per_rbc * float(rng.lognormal(0.0, 0.35))
    if kind == "thrombocytopenia":
        platelets *= 0.12
    if kind == "neutropenia":
        frac[0] *= 0.25
    frac = frac / frac.sum()
    return dataclasses.replace(
        base,
        name=f"random-{seed}",
        wbc_fractions={k: float(v) for k, v in zip(WBC_KINDS, frac, strict=True)},
        wbc_per_mm2=base.wbc_per_mm2 * float(rng.lognormal(0.0, 0.3)),
        rbc_coverage=float(np.clip(rng.normal(0.30, 0.04), 0.18, 0.40)),
        rbc_diameter_um=float(rng.normal(7.5, 0.35)),
        rbc_hb_pg=float(rng.normal(29.0, 2.5)),
        rbc_overlap_prob=float(rng.uniform(0.05, 0.25)),
        sickle_fraction=sickle,
        platelets_per_rbc=platelets,
        dead_fraction=float(rng.uniform(0.01, 0.10)),
        large_lymphocyte_fraction=float(rng.uniform(0.05, 0.18)),
        wbc_size_scale=float(rng.normal(1.0, 0.05)),
        cytoplasm_protein_pg_um2=base.cytoplasm_protein_pg_um2 * float(rng.uniform(0.8, 1.25)),
        debris_per_mm2=base.debris_per_mm2 * float(rng.lognormal(0.0, 0.5)),
    )


def get_donor(name: str) -> DonorProfile:
    """The named profile; ``random-<seed>`` makes a random held-out donor."""
    m = _RANDOM.match(name)
    if m:
        return random_donor(int(m.group(1)))
    try:
        return DONORS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown donor {name!r}; use one of {sorted(DONORS)} or random-<seed>"
        ) from None


def donor_names() -> list[str]:
    return sorted(DONORS)
