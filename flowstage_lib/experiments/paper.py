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

# ---------------- Section 5 / Appendix B
