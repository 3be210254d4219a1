"""Affine probability paths x_t = alpha_t x1 + sigma_t x0 (t = 0 noise, t = 1 data), their
schedules and time grids: rectified flow (the paper's Eq. 1), the cosine path, and the
timestep shift of Table 2 (Eq. 8)."""

from flowstage_lib.path.affine import *  # noqa: F403
from flowstage_lib.path.affine import __all__  # noqa: F401
