"""Every number the paper prints that the book compares with, cited by figure or table.

Liu et al., "From Navigation to Refinement: Revealing the Two-Stage Nature of Flow-based
Diffusion Models through Oracle Velocity", arXiv 2512.02826. Nothing else in the project types a
paper number by hand: notebooks and experiments import it from here.
"""

from __future__ import annotations

# ---------------- Section 2

# ---------------- Section 3

# ---------------- Section 4

# ---------------- Section 5 / Appendix B
