"""Every number the paper prints that the book compares with, cited by figure or table.

Liu et al., "From Navigation to Refinement: Revealing the Two-Stage Nature of Flow-based
Diffusion Models through Oracle Velocity", arXiv 2512.02826. Nothing else in the project types a
paper number by hand: notebooks and experiments import it from here.
"""

from __future__ import annotations

# ---------------- Section 2

# Sec. 2 prints no number the book compares with (Theorem 2.1 is a closed form, Eq. 6 vs
# Eq. 19 a typo in a formula): see experiments.criteria.

# ---------------- Section 3

# Figs. 2a-b: the oracle/CFM gap is concentrated in t in [0, 0.1] and the top-1 posterior weight
# saturates to 1 "beyond t = 0.1" (ImageNet, class-conditional, VA-VAE latents).
SPLIT_T = 0.1
# Figs. 2-3 setting: VA-VAE latents of 32 x 16 x 16 = 8192 dimensions, about 1400 images per class.
IMAGENET_D = 8192
IMAGENET_N_PER_CLASS = 1400

# ---------------- Section 4

#: Fig. 4 / 15: the intermediate predictions settle their layout near t = 0.2 (ImageNet).
FIG4_LAYOUT_T = 0.2

#: Figs. 5, 13 / Table 1: the paper's stage splits t_split (0.1 = its transition, Fig. 2b).
TABLE1_SPLITS = (0.1, 0.2)

#: Table 1: gFID@50K of LightningDiT stage-swapped sampling, {(t_split, stage 1, stage 2): gFID}
#: (B = LightningDiT-B, XL = LightningDiT-XL; 25 + 25 Euler steps, no guidance).
TABLE1_GFID = {
    (0.1, "XL", "XL"): 2.94,
    (0.1, "B", "XL"): 3.71,
    (0.1, "XL", "B"): 11.26,
    (0.1, "B", "B"): 12.45,
    (0.2, "XL", "XL"): 2.60,
    (0.2, "B", "XL"): 4.47,
    (0.2, "XL", "B"): 9.24,
    (0.2, "B", "B"): 12.01,
}

#: Table 1's models: the paper's strong and weak stage models.
TABLE1_STRONG, TABLE1_WEAK = "XL", "B"


def table1_costs(split: float) -> tuple[float, float]:
    """Table 1: (cost of a weak stage 1, cost of a weak stage 2) in gFID at ``split``:
    gFID(B/XL) - gFID(XL/XL) and gFID(XL/B) - gFID(XL/XL) (+0.77 / +8.32 at 0.1)."""
    g = TABLE1_GFID
    s = round(float(split), 3)
    if (s, "XL", "XL") not in g:
        raise ValueError(f"split must be one of {TABLE1_SPLITS}, got {split}")
    return g[(s, "B", "XL")] - g[(s, "XL", "XL")], g[(s, "XL", "B")] - g[(s, "XL", "XL")]


# ---------------- Section 5 / Appendix B

#: Fig. 2b: the paper's navigation -> refinement transition on ImageNet (the top-1 posterior
#: weight saturates just after t = 0.1); Table 3's intervals are stated relative to it.
TRANSITION_T = 0.1

#: Table 2: gFID@50K of LightningDiT-B/1, NFE 50, no CFG, per timestep shift s.
TABLE2_GFID = {4.0: 18.89, 2.0: 14.82, 1.0: 12.99, 0.7: 12.46, 0.5: 12.23, 0.3: 12.66, 0.1: 19.91}

#: Table 2's column "percentage of t in [0.0, 0.2]" (all seven printed; Fig. 11 draws the map).
TABLE2_SHARE = {4.0: 0.06, 2.0: 0.12, 1.0: 0.22, 0.7: 0.28, 0.5: 0.34, 0.3: 0.46, 0.1: 0.72}

#: Table 2: the moderate shifts (s < 1, not extreme) among which the paper's best lies.
TABLE2_MODERATE = (0.7, 0.5, 0.3)

#: Table 3: (row label, two-sided CFG interval [a, b] or None = no guidance, gFID@50K),
#: LightningDiT-B/1, guidance scale 2.5, NFE 50.
TABLE3: list[tuple[str, tuple[float, float] | None, float]] = [
    ("none", None, 12.99),
    ("[0, 1]", (0.0, 1.0), 10.79),
    ("[0, .1]", (0.0, 0.1), 6.33),
    ("[.1, .2]", (0.1, 0.2), 5.21),
    ("[.2, .3]", (0.2, 0.3), 7.70),
    ("[.3, .4]", (0.3, 0.4), 9.39),
    ("[.4, .5]", (0.4, 0.5), 10.39),
    ("[.5, .6]", (0.5, 0.6), 10.59),
    ("[.6, .7]", (0.6, 0.7), 11.06),
    ("[.7, .8]", (0.7, 0.8), 11.38),
    ("[.8, .9]", (0.8, 0.9), 11.64),
    ("[.9, 1]", (0.9, 1.0), 12.20),
    ("[0, .2]", (0.0, 0.2), 6.62),
    ("[0, .4]", (0.0, 0.4), 8.03),
    ("[0, .6]", (0.0, 0.6), 9.19),
    ("[0, .8]", (0.0, 0.8), 10.14),
    ("[.1, .3]", (0.1, 0.3), 3.54),
    ("[.1, .4]", (0.1, 0.4), 4.16),
    ("[.1, .5]", (0.1, 0.5), 2.82),
    ("[.1, .6]", (0.1, 0.6), 2.80),
    ("[.1, .7]", (0.1, 0.7), 2.86),
    ("[.1, .8]", (0.1, 0.8), 2.97),
]

#: Table 3's claims in the paper's words and numbers (c1: best short interval at the
#: transition, c2: excluding [0, 0.1] helps, c3: best wide interval).
TABLE3_CLAIMS = {
    "c1": "best short [.1, .2] (5.21) at the transition 0.1",
    "c2": "4/4 (e.g. [.1, .6] 2.80 vs [0, .6] 9.19)",
    "c3": "best wide [.1, .6] (2.80)",
}

#: Fig. 8a: the norm of the predicted velocity peaks near t = 0.4.
VELOCITY_PEAK_T = 0.4


# ---------------- Derived: the practices `flowstage analyze` carries over to a user's data

#: Fig. 2b: the class-conditional top-1 posterior weight reaches this level at TRANSITION_T.
TRANSITION_LEVEL = 0.9
#: Table 2: the best timestep shift (lowest gFID).
TABLE2_BEST_SHIFT = min(TABLE2_GFID, key=TABLE2_GFID.get)
_GUIDED = [r for r in TABLE3 if r[1] is not None]
#: Table 3: the best CFG interval overall, and the best of width <= 0.1 (lowest gFID).
TABLE3_BEST_WIDE = min(_GUIDED, key=lambda r: r[2])[1]
TABLE3_BEST_SHORT = min(
    (r for r in _GUIDED if r[1][1] - r[1][0] <= 0.1 + 1e-9), key=lambda r: r[2]
)[1]
