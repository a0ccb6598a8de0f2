"""Donor profiles: the blood of one simulated person (proportions, sizes, densities).

Every number here is an estimate (E in simulator-physics.md) kept as a field so that donors
can differ the way the paper's 23 donors did, and so models can be tested on held-out donors.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import numpy as np

from uvscope.classes import CLASSES, PRECLASSES, RBC_CLASSES
from uvscope.errors import ConfigError

WBC_KINDS: tuple[str, ...] = CLASSES  # the simulator draws the classes uvscope counts
#: the pre-classes a donor may carry (``wbc_fractions`` keys beyond the five; 0 when absent)
PRECLASS_KINDS: tuple[str, ...] = PRECLASSES


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
    #: share of sickle cells among RBCs (kept for old configs; ``rbc_morph_fractions`` wins)
    sickle_fraction: float = 0.0
    #: share of each abnormal red-cell class (names from RBC_CLASSES, not "normal": normal
    #: is the rest); see ``rbc_morph_shares``
    rbc_morph_fractions: dict[str, float] = field(default_factory=dict)
    #: scales every normal-shaped RBC's central thickness: below 1 a wider, paler central
    #: pallor (hypochromic cells: the same haemoglobin pushed to the rim)
    rbc_pallor_scale: float = 1.0
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

    def rbc_morph_shares(self) -> dict[str, float]:
        """Share of every red-cell class, in RBC_CLASSES order, summing to 1 (normal is the
        rest). ``sickle_fraction`` gives sickle unless ``rbc_morph_fractions`` names it."""
        shares = {k: 0.0 for k in RBC_CLASSES[1:]}
        shares["sickle"] = self.sickle_fraction
        for k, v in self.rbc_morph_fractions.items():
            if k not in shares:
                raise ConfigError(
                    f"donor {self.name!r}: rbc_morph_fractions has {k!r}; use some of "
                    f"{list(RBC_CLASSES[1:])} (normal is the rest)"
                )
            shares[k] = float(v)
        total = sum(shares.values())
        if min(shares.values()) < 0 or total > 1.0 + 1e-9:
            raise ConfigError(
                f"donor {self.name!r}: red-cell class shares must be >= 0 and sum to at most 1, "
                f"got {shares}"
            )
        return {RBC_CLASSES[0]: max(1.0 - total, 0.0), **shares}

    def preclass_share(self) -> float:
        """Fraction of all WBCs (nucleated cells on the smear) drawn as a pre-class kind."""
        five = sum(max(self.wbc_fractions.get(k, 0.0), 0.0) for k in WBC_KINDS)
        pre = sum(max(self.wbc_fractions.get(k, 0.0), 0.0) for k in PRECLASS_KINDS)
        return pre / (five + pre) if five + pre > 0 else 0.0

    def preclass_fractions(self) -> np.ndarray:
        """Pre-class kind probabilities in PRECLASS_KINDS order (summing to 1, or all 0)."""
        p = np.array([max(self.wbc_fractions.get(k, 0.0), 0.0) for k in PRECLASS_KINDS], float)
        out: np.ndarray = p / p.sum() if p.sum() > 0 else p
        return out


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
    frac.update(_sickle_preclasses())
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


# ---------------------------------------------------------------- red-cell and platelet donors
# Healthy white cells; the red cells and platelets carry the finding (values: E, typical of
# the disorder as a haematology atlas describes it).


def _ttp_like() -> DonorProfile:
    """Thrombotic microangiopathy: schistocytes (fragments) with thrombocytopenia."""
    return DonorProfile(
        name="ttp-like",
        rbc_morph_fractions={"schistocyte": 0.05},
        rbc_coverage=0.26,
        rbc_diameter_sd_um=0.6,
        platelets_per_rbc=0.007,
        platelet_clump_prob=0.0,
    )


def _sickle_preclasses() -> dict[str, float]:
    """A few nucleated red cells, as haemolysis and marrow stress push them out."""
    return {"nrbc": 0.02}


# ------------------------------------------------------------------ donors with pre-classes


def _eosinophilia() -> DonorProfile:
    frac = _healthy_fractions()
    frac["eosinophil"] = 0.15
    frac["neutrophil"] = 0.50
    frac["lymphocyte"] = 0.28
    return DonorProfile(name="eosinophilia", wbc_fractions=frac, wbc_per_mm2=14.0)


def _left_shift() -> DonorProfile:
    """Infection: neutrophilia with bands and immature granulocytes (IG about 8 %)."""
    frac = _healthy_fractions()
    frac.update(neutrophil=0.55, lymphocyte=0.18, monocyte=0.06, eosinophil=0.01)
    frac.update(band_neutrophil=0.12, metamyelocyte=0.045, myelocyte=0.03, promyelocyte=0.008)
    return DonorProfile(name="left-shift", wbc_fractions=frac, wbc_per_mm2=20.0)


def _acute_leukaemia_like() -> DonorProfile:
    """Blasts about 30 % of the white cells, few platelets, some smudge cells."""
    frac = _healthy_fractions()
    frac.update(neutrophil=0.25, lymphocyte=0.32, monocyte=0.05, eosinophil=0.01)
    frac.update(blast=0.30, promyelocyte=0.01, smudge=0.03, nrbc=0.01)
    return DonorProfile(
        name="acute-leukaemia-like",
        wbc_fractions=frac,
        wbc_per_mm2=16.0,
        platelets_per_rbc=0.012,
        platelet_clump_prob=0.0,
    )


def _iron_deficiency() -> DonorProfile:
    """Hypochromic microcytic: MCH about 20 pg, cells about 6.3 um, wide size spread (high
    RDW), a few pencil cells (elliptocytes), often a reactive rise in platelets."""
    return DonorProfile(
        name="iron-deficiency",
        rbc_hb_pg=20.0,
        rbc_hb_sd_pg=3.5,
        rbc_diameter_um=6.3,
        rbc_diameter_sd_um=0.85,
        rbc_morph_fractions={"elliptocyte": 0.03},
        rbc_pallor_scale=0.45,
        platelets_per_rbc=0.07,
    )


def _macrocytic() -> DonorProfile:
    """Macrocytic (megaloblastic-like): MCH about 34 pg, cells about 8.6 um, a few
    macro-ovalocytes."""
    return DonorProfile(
        name="macrocytic",
        rbc_hb_pg=34.0,
        rbc_hb_sd_pg=3.5,
        rbc_diameter_um=8.6,
        rbc_diameter_sd_um=0.6,
        rbc_morph_fractions={"elliptocyte": 0.03},
        rbc_coverage=0.26,
    )


def _spherocytosis() -> DonorProfile:
    """Hereditary spherocytosis: 15 % spherocytes (small, dense, no pallor), MCH normal."""
    return DonorProfile(
        name="spherocytosis",
        rbc_morph_fractions={"spherocyte": 0.15},
        rbc_diameter_um=7.3,
        rbc_diameter_sd_um=0.6,
    )


def _elliptocytosis() -> DonorProfile:
    """Hereditary elliptocytosis: 30 % elliptocytes / ovalocytes (axis ratio 1.3-2.5)."""
    return DonorProfile(name="elliptocytosis", rbc_morph_fractions={"elliptocyte": 0.30})


def _thalassaemia_like() -> DonorProfile:
    """Thalassaemia trait-like: hypochromic microcytic (MCH about 21 pg, about 6.4 um), 10 %
    target cells, a few elliptocytes and fragments, and nucleated red cells (about 8 per 100
    WBC)."""
    frac = _healthy_fractions()
    frac["nrbc"] = 0.075
    return DonorProfile(
        name="thalassaemia-like",
        wbc_fractions=frac,
        rbc_hb_pg=21.0,
        rbc_hb_sd_pg=2.5,
        rbc_diameter_um=6.4,
        rbc_diameter_sd_um=0.6,
        rbc_morph_fractions={"target": 0.10, "elliptocyte": 0.02, "schistocyte": 0.01},
        rbc_pallor_scale=0.6,
        rbc_coverage=0.32,
    )


def _viral() -> DonorProfile:
    """Reactive lymphocytosis: variant lymphocytes (about 12 %), some plasma cells (3 %)."""
    frac = _healthy_fractions()
    frac.update(neutrophil=0.36, lymphocyte=0.42, monocyte=0.07, eosinophil=0.02)
    frac.update(variant_lymphocyte=0.12, plasma_cell=0.03, smudge=0.01)
    return DonorProfile(
        name="viral", wbc_fractions=frac, wbc_per_mm2=14.0, large_lymphocyte_fraction=0.2
    )


RBC_DONORS = {
    "ttp-like": _ttp_like,
    "iron-deficiency": _iron_deficiency,
    "macrocytic": _macrocytic,
    "spherocytosis": _spherocytosis,
    "elliptocytosis": _elliptocytosis,
    "thalassaemia-like": _thalassaemia_like,
}


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
    **RBC_DONORS,
    "eosinophilia": _eosinophilia,
    "left-shift": _left_shift,
    "acute-leukaemia-like": _acute_leukaemia_like,
    "viral": _viral,
    "monocytosis": _monocytosis,
}

_RANDOM = re.compile(r"^random-(\d+)$")


def _random_rbc_morph(seed: int, sickle: float) -> dict[str, float]:
    """Small shares of the poikilocytes for a random donor, from their own random stream (so
    the white-cell draws of ``random_donor`` are those of before)."""
    rng = np.random.default_rng([seed, 0xD1]) if seed >= 0 else np.random.default_rng()
    out = {"sickle": sickle}
    for k in ("spherocyte", "elliptocyte", "schistocyte", "target"):
        present = rng.uniform() < 0.15
        share = float(rng.uniform(0.01, 0.05))
        out[k] = share if present else 0.0
    return out


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
        rbc_morph_fractions=_random_rbc_morph(seed, sickle),
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
